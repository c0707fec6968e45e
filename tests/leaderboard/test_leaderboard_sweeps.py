"""Sweeps through Hydra's launchers: joblib (parallel on one machine) and submitit (local).

The SLURM preset shares the submitit launcher's code path; it is composed here, not run.
"""

import json
from pathlib import Path

import pytest
from helpers import run_cli, start_cli

CELLS = [
    "+experiment=leaderboard_sim",
    "task=mmlu",
    "searcher=random",
    "budget=u6",
    "seed=0,1",
    "n_iterations=2",
    "batch_size=2",
    "test_n=8",
]


def sweep(results, launcher, *extra):
    return run_cli("suite.run", "-m", *CELLS, f"+experiment/launcher={launcher}",
                   f"results_dir={results}", *extra, timeout=600)  # fmt: skip


def completed(results):
    finals = sorted(Path(results).glob("mmlu/random/*/final.json"))
    return sorted(
        json.loads(p.read_text())["seed"]
        for p in finals
        if json.loads(p.read_text())["status"] == "completed"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("launcher", "extra"),
    [("joblib", ["hydra.launcher.n_jobs=2"]), ("submitit_local", [])],
)
def test_a_sweep_runs_through_the_launcher_and_skips_finished_cells(tmp_path, launcher, extra):
    res = sweep(tmp_path, launcher, *extra)
    assert res.returncode == 0, res.stderr[-2000:]
    assert completed(tmp_path) == [0, 1]
    again = sweep(tmp_path, launcher, *extra)
    assert again.returncode == 0
    assert completed(tmp_path) == [0, 1]  # no new run folder: both cells were skipped
    assert len(list(tmp_path.glob("mmlu/random/*/final.json"))) == 2


def test_slurm_preset_composes():
    from hydra import compose, initialize_config_dir

    from suite.config import CONF_DIR, schema

    schema.register()  # the YAML files name their schemas, which Hydra finds in its ConfigStore
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=["+experiment=leaderboard_sim", "+experiment/launcher=slurm"],
            return_hydra_config=True,
        )
    assert "SlurmLauncher" in cfg.hydra.launcher._target_
    assert cfg.hydra.launcher.cpus_per_task == 1


def start(results, *cells):
    return start_cli("suite.run", "-m", *cells, f"results_dir={results}")


@pytest.mark.slow
def test_two_sweeps_into_one_results_root_at_once_neither_collide_nor_corrupt(tmp_path):
    same = [*CELLS[:4], "seed=0,1,2,3", *CELLS[5:]]
    other = [*CELLS[:2], "searcher=reinforce", *CELLS[3:5], *CELLS[5:]]
    procs = [start(tmp_path, *same), start(tmp_path, *same), start(tmp_path, *other)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in outs]
    # The two identical sweeps split their cells: each ran exactly once, by one of them.
    assert completed(tmp_path) == [0, 1, 2, 3]
    folders = [p for p in tmp_path.glob("mmlu/*/*") if p.is_dir()]
    assert len(folders) == 4 + 2  # no duplicate, no empty or half-written run folder
    for folder in folders:
        final = json.loads((folder / "final.json").read_text())
        assert final["status"] == "completed"
        trials = [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]
        assert trials and {t["config_digest"] for t in trials} == {final["config_digest"]}
    skipped = sum(out.count("skipping") for out, _ in outs[:2])
    assert skipped == 4  # every common cell was skipped by exactly one of the two
    assert not list(tmp_path.glob(".sweep-failures-*"))


FAILING = [  # the 2-unit cell fails in its job (no model fits 2 units), the 6-unit cell completes
    *[c for c in CELLS if c not in ("budget=u6", "seed=0,1")],
    "seed=0",
    "budget=u6",
    "budget.units=2,6",
    "pool.models.0.units.default=3",
    "pool.final_model=llama-3.2-3b",
]


JOBLIB = ["-m", "+experiment/launcher=joblib", "hydra.launcher.n_jobs=2"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [JOBLIB, ["hydra.mode=MULTIRUN"]])
def test_a_failed_cell_makes_the_sweep_exit_2_in_any_launcher_process(tmp_path, mode):
    res = run_cli("suite.run", *mode, *FAILING, f"results_dir={tmp_path}", timeout=600)
    assert res.returncode == 2, res.stderr[-2000:]
    summary = res.stderr.strip().splitlines()[-1]
    assert summary.startswith("error: 1 cell(s) of the sweep failed:") and "too small" in summary
    assert "Traceback" not in res.stderr
    assert completed(tmp_path) == [0]  # the other cell completed
    folders = [p for p in tmp_path.glob("mmlu/random/*") if p.is_dir()]
    assert len(folders) == 1  # the failed cell left no empty folder behind
    assert not list(tmp_path.glob(".sweep-failures-*"))


def test_a_claimed_cell_cannot_be_claimed_again_until_released(tmp_path):
    from suite.engine.results import claim_cell

    first = claim_cell(tmp_path / "mmlu" / "random", 0, "abc")
    assert first is not None
    assert claim_cell(tmp_path / "mmlu" / "random", 0, "abc") is None  # a second sweep skips it
    assert claim_cell(tmp_path / "mmlu" / "random", 1, "abc") is not None  # other seed: free
    first.close()
    again = claim_cell(tmp_path / "mmlu" / "random", 0, "abc")
    assert again is not None
    again.close()
