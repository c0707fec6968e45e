"""Sweeps on Ray (issue 7): a local Ray head on 127.0.0.1 and a small sweep through Hydra's Ray
launcher (``+experiment/launcher=ray``), with finished cells skipped on the second pass.

Skipped unless the ray extra is installed (pip install -e ".[ray]"); .ci/run installs it in its
Ray step and runs this file with TTSGB_REQUIRE_RAY=1, where a missing launcher fails instead.
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("TTSGB_REQUIRE_RAY") == "1"
HAVE_RAY = importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None
if not HAVE_RAY and REQUIRED:
    raise RuntimeError("TTSGB_REQUIRE_RAY=1 but no Ray launcher: pip install -e '.[ray]'")
pytestmark = pytest.mark.skipif(not HAVE_RAY, reason='needs Ray: pip install -e ".[ray]"')

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",  # every worker line reaches the driver (the test counts them)
}
CELLS = [
    "+experiment=leaderboard_sim",
    "task=mmlu",
    "searcher=random,reinforce",
    "budget=u6",
    "seed=0,1",
    "n_iterations=2",
    "batch_size=2",
    "test_n=8",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli():
    return str(Path(sys.executable).with_name("ray")) if shutil.which("ray") is None else "ray"


@pytest.fixture
def ray_head():
    """A Ray head started here on 127.0.0.1 with 2 CPUs; stopped afterwards."""
    port = free_port()
    start = [ray_cli(), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"]  # fmt: skip
    subprocess.run(start, check=True, capture_output=True, env=ENV, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_cli(), "stop", "--force"], capture_output=True, env=ENV, timeout=120)


def sweep(results, address):
    return subprocess.run(
        [sys.executable, "-m", "suite.run", "-m", *CELLS, "+experiment/launcher=ray",
         f"hydra.launcher.ray.init.address={address}", f"results_dir={results}"],
        capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=600,
    )  # fmt: skip


def completed(results):
    out = []
    for path in sorted(Path(results).glob("mmlu/*/*/final.json")):
        final = json.loads(path.read_text())
        if final["status"] == "completed":
            out.append((final["searcher"], final["seed"]))
    return sorted(out)


def test_a_sweep_runs_on_a_local_ray_head_and_skips_finished_cells(tmp_path, ray_head):
    res = sweep(tmp_path, ray_head)
    assert res.returncode == 0, res.stderr[-3000:]
    cells = [("random", 0), ("random", 1), ("reinforce", 0), ("reinforce", 1)]
    assert completed(tmp_path) == cells
    out = res.stdout + res.stderr
    assert "Connected to Ray cluster" in out  # the head started above, not a private instance
    assert out.count("(_run_job pid=") >= 4  # the cells ran as Ray tasks, not in this process
    again = sweep(tmp_path, ray_head)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (again.stdout + again.stderr).count("skipping completed cell") == 4
    assert len(list(tmp_path.glob("mmlu/*/*/final.json"))) == 4  # no new run folder
