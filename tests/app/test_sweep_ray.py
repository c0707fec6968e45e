"""Sweeps on Ray (issue 7): a local Ray head on 127.0.0.1 and a small sweep through Hydra's Ray
launcher (``+experiment/launcher=ray``), with finished cells skipped on the second pass.

Skipped unless the ray extra is installed (pip install -e ".[ray]"); .ci/run installs it in its
Ray step and runs this file with TTSGB_REQUIRE_RAY=1, where a missing launcher fails instead.
"""

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import offline_env, run_cli

REQUIRED = os.environ.get("TTSGB_REQUIRE_RAY") == "1"
HAVE_RAY = importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None
if not HAVE_RAY and REQUIRED:
    raise RuntimeError("TTSGB_REQUIRE_RAY=1 but no Ray launcher: pip install -e '.[ray]'")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_RAY, reason='needs Ray: pip install -e ".[ray]"'),
]

RAY = {
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
def ray_head(tmp_path_factory):
    """A Ray head of this test's own on 127.0.0.1 (2 CPUs, its own temp folder); stopped after.

    ``ray start --block`` runs in a new session, so the head and everything it started are
    stopped by signalling that process group; other Ray instances on the machine are untouched.
    """
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")  # short enough for Ray's unix sockets
    head = subprocess.Popen(
        [ray_cli(), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=offline_env(RAY),
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert head.poll() is None and time.monotonic() < deadline, "Ray head did not start"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, sig)
            try:
                head.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue


def sweep(results, address):
    return run_cli(
        "suite.run", "-m", *CELLS, "+experiment/launcher=ray",
        f"hydra.launcher.ray.init.address={address}", f"results_dir={results}",
        env=RAY, timeout=600,
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
    assert "with RayLauncher" in out  # the cells went to Ray's launcher (workers print nothing:
    # a sweep's progress lines come from the parent, one per cell)
    again = sweep(tmp_path, ray_head)
    assert again.returncode == 0, again.stderr[-3000:]
    assert completed(tmp_path) == cells
    assert len([p for p in tmp_path.glob("mmlu/*/*") if p.is_dir()]) == 4  # all 4 were skipped
