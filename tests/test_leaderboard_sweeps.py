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
