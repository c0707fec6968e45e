"""Every config option composes, and registry names equal config file names."""

import pytest

from suite import config
from suite.app import cli
from suite.config import registry


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
    for task in config.group_options("task"):
        conf = config.load(cli.compose([f"task={task}"]))
        assert profiles[task].input_tokens == conf.task.input_tokens
        assert profiles[task].output_tokens == conf.task.output_tokens


def test_unknown_registry_name():
    with pytest.raises(Exception, match="did you mean 'random'"):
        registry.resolve("searcher", "randon")
