"""suite.app.missing lists the cells of a sweep preset with no completed run; presets compose."""

import json

import pytest
import yaml
from helpers import run_cli

from suite.app import cli
from suite.app.cell import execute
from suite.app.missing import cells, sweep_params
from suite.config import group_options

SMALL = ["n_iterations=2", "batch_size=2", "test_n=8"]


def overrides(results):
    return [
        "+experiment=leaderboard_sim",
        "task=mmlu",
        "searcher=random",
        "budget=u6",
        "seed=0,1",
        *SMALL,
        f"results_dir={results}",
    ]


def run_cell(results, seed):
    plain = [o for o in overrides(results) if not o.startswith("seed=")]
    data = cli.compose([*plain, f"seed={seed}"])
    run_dir = results / "mmlu" / "random" / f"20261126-000000-00000{seed}-s{seed}"
    return execute(data, yaml.safe_dump(data), run_dir, multirun=True, quiet=True)


def test_preset_params_expand_like_a_sweep():
    plain, params = sweep_params(["+experiment=leaderboard_sim", "seed=0,1", "task=mmlu"])
    assert plain == ["+experiment=leaderboard_sim"]
    assert params["seed"] == ["0", "1"] and params["task"] == ["mmlu"]
    assert params["budget"] == ["u6", "u12", "u24", "u48"]
    assert len(params["searcher"]) == 7
    _, full = sweep_params(["+experiment=leaderboard_sim"])
    assert full["seed"] == [str(s) for s in range(10)]  # range(0,10) expands as Hydra does


def test_every_option_the_preset_sweeps_exists():
    _, params = sweep_params(["+experiment=leaderboard_sim"])
    for group in ("searcher", "task", "budget"):
        assert set(params[group]) <= set(group_options(group)), group
    assert set(params["searcher"]) == set(group_options("searcher"))


@pytest.mark.slow
def test_missing_cells_are_listed_until_the_sweep_completes_them(tmp_path):
    results, found = cells(overrides(tmp_path))
    assert results == tmp_path
    assert [(c.seed, c.state) for c in found] == [(0, "missing"), (1, "missing")]
    run_cell(tmp_path, 0)
    _, found = cells(overrides(tmp_path))
    assert [(c.seed, c.state) for c in found] == [(0, "completed"), (1, "missing")]
    res = run_cli("suite.missing", *overrides(tmp_path))
    assert res.returncode == 1, res.stderr
    listed = res.stdout.splitlines()[:-1]
    assert listed == ["missing     searcher=random task=mmlu budget=u6 seed=1"]
    assert "1 of 2 cells have no completed run" in res.stdout
    assert run_cell(tmp_path, 0) is None  # the sweep skips the completed cell
    run_cell(tmp_path, 1)
    res = run_cli("suite.missing", *overrides(tmp_path))
    assert res.returncode == 0 and "0 of 2 cells" in res.stdout


@pytest.mark.slow
def test_a_failed_run_is_shown_with_its_reason(tmp_path):
    run_cell(tmp_path, 0)
    final = next((tmp_path / "mmlu" / "random").glob("*-s0/final.json"))
    record = json.loads(final.read_text())
    record.update(status="failed", reason="BackendError: boom")
    final.write_text(json.dumps(record))
    _, found = cells(overrides(tmp_path))
    assert (found[0].state, found[0].detail) == ("failed", "BackendError: boom")


@pytest.mark.slow
def test_a_changed_setting_makes_old_runs_not_count(tmp_path):
    run_cell(tmp_path, 0)
    changed = [o if o != "test_n=8" else "test_n=9" for o in overrides(tmp_path)]
    _, found = cells(changed)
    assert [c.state for c in found] == ["missing", "missing"]


@pytest.mark.slow
def test_bad_override_is_one_line_exit_2(tmp_path):
    res = run_cli(
        "suite.missing", "+experiment=leaderboard_sim", "searcher=randm", f"results_dir={tmp_path}"
    )
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error: unknown searcher 'randm'")
    assert len(res.stderr.strip().splitlines()) == 1


def test_joblib_launcher_preset_composes():
    from hydra import compose, initialize_config_dir

    from suite.config import CONF_DIR, schema

    schema.register()  # the YAML files name their schemas, which Hydra finds in its ConfigStore
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=["+experiment=leaderboard_sim", "+experiment/launcher=joblib"],
            return_hydra_config=True,
        )
    assert "JoblibLauncher" in cfg.hydra.launcher._target_
    assert cfg.hydra.launcher.n_jobs == -1
    assert cfg.backend.name == "sim" and cfg.agent.name == "heuristic"
