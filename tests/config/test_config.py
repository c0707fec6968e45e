"""Every config option composes against its schema, and registry names equal config file names."""

import dataclasses

import pytest
import yaml

from suite import config
from suite.app import cli
from suite.config import registry, schema
from suite.core.errors import ConfigError


@pytest.mark.parametrize("group", ["searcher", "backend", "agent"])
def test_registry_names_equal_config_file_names(group):
    assert registry.names(group) == config.group_options(group)


@pytest.mark.parametrize(
    ("group", "option"),
    [(g, o) for g in config.GROUPS for o in config.group_options(g)],
)
def test_every_option_composes_and_validates(group, option):
    conf = config.load(cli.compose([f"{group}={option}"]))
    config.space_of(conf)
    # the same metered search budget for every searcher: 10 x 3 plus room for the pre-test
    assert conf.eval_budget == conf.n_iterations * conf.batch_size + 10 == 40


def test_sim_profile_tokens_agree_with_task_configs():
    from suite.sim.world import load_profiles

    profiles = load_profiles("llama3")
    tiny = load_profiles("tiny_cpu")  # arith_synthetic is the tiny_cpu surrogate's task only
    for task in config.group_options("task"):
        conf = config.load(cli.compose([f"task={task}"]))
        profile = profiles[task] if task in profiles else tiny[task]
        assert profile.input_tokens == conf.task.input_tokens
        assert profile.output_tokens == conf.task.output_tokens


def test_unknown_registry_name():
    with pytest.raises(Exception, match="did you mean 'random'"):
        registry.resolve("searcher", "randon")


@pytest.mark.parametrize("group", sorted(schema.OPTION_SCHEMAS))
def test_every_option_names_its_schema_and_keeps_its_key_order(group):
    """The schema's fields are the YAML's keys in the YAML's order: config.yaml stays as it was."""
    assert sorted(schema.OPTION_SCHEMAS[group]) == config.group_options(group)
    for option, shape in schema.OPTION_SCHEMAS[group].items():
        data = yaml.safe_load((config.CONF_DIR / group / f"{option}.yaml").read_text())
        assert data.pop("defaults") == [f"/{schema.schema_name(group, option)}@_here_", "_self_"]
        assert list(data) == [f.name for f in dataclasses.fields(shape)]


@pytest.mark.parametrize(
    ("group", "shape"), [("task", schema.TaskSchema), ("pool", schema.PoolSchema)]
)
def test_shared_schemas_list_every_options_keys_in_order(group, shape):
    for option in config.group_options(group):
        data = yaml.safe_load((config.CONF_DIR / group / f"{option}.yaml").read_text())
        assert list(data) == [f.name for f in dataclasses.fields(shape)]
    model_keys = [f.name for f in dataclasses.fields(schema.PoolModelSchema)]
    for option in config.group_options("pool"):
        data = yaml.safe_load((config.CONF_DIR / "pool" / f"{option}.yaml").read_text())
        assert all(list(model) == model_keys for model in data["models"])
    task_keys = {f.name for f in dataclasses.fields(schema.TaskSchema)}
    assert task_keys == {f.name for f in dataclasses.fields(config.TaskConfig)}


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["seed=abc"], "seed must be an integer, got 'abc'; e.g. seed=3"),
        (["searcher=reinforce", "searcher.lr=fast"], "searcher.lr must be a number, got 'fast'"),
        (["backend.world_seed=null"], "backend.world_seed must be an integer, got None"),
        (["pool.models.2.layers=x"], "pool.models.2 is malformed: layers must be an integer"),
        (["searcher.recomend=best"], "(searcher=agent_reinforce has no 'recomend')"),
        (["+searcher.extra=1"], "unknown config key 'searcher.extra'"),
        (["+task.extra=1"], "unknown config key 'task.extra'"),
        (["+nosuch=1"], "unknown config key 'nosuch'"),
    ],
)
def test_schema_refusals_are_one_line_config_errors(overrides, needle):
    with pytest.raises(ConfigError) as err:
        cli.compose(overrides)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_backends_take_the_pool_from_the_session_not_from_their_config():
    data = cli.compose(["backend=vllm", "pool=tiny_cpu"])
    assert "pool_models" not in data["backend"]
    assert list(data["pool"]) == ["name", "final_model", "models"]
