"""Sweeps through Hydra's launchers: joblib (parallel on one machine) and submitit (local).

The SLURM preset shares the submitit launcher's code path; it is composed here, not run.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
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
    return subprocess.run(
        [sys.executable, "-m", "suite.run", "-m", *CELLS, f"+experiment/launcher={launcher}",
         f"results_dir={results}", *extra],
        capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=600,
    )  # fmt: skip


def completed(results):
    finals = sorted(Path(results).glob("mmlu/random/*/final.json"))
    return sorted(
        json.loads(p.read_text())["seed"]
        for p in finals
        if json.loads(p.read_text())["status"] == "completed"
    )


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

    from suite.config import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=["+experiment=leaderboard_sim", "+experiment/launcher=slurm"],
            return_hydra_config=True,
        )
    assert "SlurmLauncher" in cfg.hydra.launcher._target_
    assert cfg.hydra.launcher.cpus_per_task == 1


def start(results, *cells):
    return subprocess.Popen(
        [sys.executable, "-m", "suite.run", "-m", *cells, f"results_dir={results}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV,
    )  # fmt: skip


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


def test_a_failed_cell_in_a_parallel_sweep_makes_the_sweep_exit_2(tmp_path):
    # Real GSM8K needs the Hub or a local file; offline its cell fails with a DataError
    # inside a joblib worker process, the mmlu cell completes.
    cells = [c for c in CELLS if c not in ("task=mmlu", "seed=0,1")]
    res = subprocess.run(
        [sys.executable, "-m", "suite.run", "-m", *cells, "task=mmlu,gsm8k", "seed=0",
         "+experiment/launcher=joblib", "hydra.launcher.n_jobs=2", f"results_dir={tmp_path}"],
        capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=600,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr[-2000:]
    assert "1 cell(s) of the sweep failed" in res.stderr and "gsm8k" in res.stderr
    assert "Traceback" not in res.stderr
    assert completed(tmp_path) == [0]
    assert not list(tmp_path.glob(".sweep-failures-*"))
