"""Crash safety: kill -9 at random moments and resume; Ctrl-C; sweeps skip completed cells."""

import json
import random
import signal
import time
from pathlib import Path

import pytest
from helpers import run_cli, start_cli

pytestmark = pytest.mark.slow  # runs are started, killed and resumed in fresh interpreters
ARGS = ["searcher=random", "n_iterations=400", "test_n=20"]


def start(results, *extra):
    return start_cli("suite.run", f"results_dir={results}", *ARGS, *extra)


def trials_of(results):
    (path,) = Path(results).glob("mmlu/random/*/trials.jsonl")
    return path


def wait_for_checkpoint(results, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if list(Path(results).glob("mmlu/random/*/checkpoint.json")):
            return True
        time.sleep(0.05)
    return False


def completed(results):
    """True once the run under ``results`` has written its completed final.json."""
    finals = list(Path(results).glob("mmlu/random/*/final.json"))
    return bool(finals) and json.loads(finals[0].read_text()).get("status") == "completed"


def test_kill_minus_9_and_resume_gives_the_uninterrupted_trials(tmp_path):
    # ARGS' 400 iterations keep the search running ~2 s after its first checkpoint on the dev
    # machine, so kills at 0-0.4 s land mid-search; a kill after completion is not counted.
    reference = tmp_path / "reference"
    proc = start(reference)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    crashed = tmp_path / "crashed"
    rng = random.Random(1234)
    kills = 0
    for _ in range(3):
        proc = start(crashed)
        if wait_for_checkpoint(crashed, proc):
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=300)
        if completed(crashed):
            break
        kills += 1
    assert kills >= 1, "no kill landed before the run completed"
    interrupted = not completed(crashed)
    final = start(crashed)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err[-2000:]
    assert ("resuming" in err) == interrupted
    assert trials_of(crashed).read_bytes() == trials_of(reference).read_bytes()
    ref_final = json.loads((trials_of(reference).parent / "final.json").read_text())
    new_final = json.loads((trials_of(crashed).parent / "final.json").read_text())
    assert new_final["status"] == "completed"
    assert new_final["test_accuracy"] == ref_final["test_accuracy"]
    assert new_final["graph_digest"] == ref_final["graph_digest"]


def test_ctrl_c_marks_the_run_interrupted_and_it_resumes(tmp_path):
    proc = start(tmp_path)
    assert wait_for_checkpoint(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    (final,) = tmp_path.glob("mmlu/random/*/final.json")
    assert json.loads(final.read_text())["status"] == "interrupted"
    again = start(tmp_path)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0 and "resuming" in err
    assert json.loads(final.read_text())["status"] == "completed"


def test_resume_false_starts_a_new_folder_and_sweeps_skip_completed_cells(tmp_path):
    sweep = [
        "suite.run",
        "-m",
        f"results_dir={tmp_path}",
        "searcher=random",
        "seed=0,1",
        "n_iterations=2",
        "test_n=10",
    ]
    first = run_cli(*sweep)
    assert first.returncode == 0, first.stderr[-2000:]
    assert len(list(tmp_path.glob("mmlu/random/*/final.json"))) == 2
    second = run_cli(*sweep)
    assert second.returncode == 0 and second.stdout.count("skipping completed cell") == 2
    assert len(list(tmp_path.glob("mmlu/random/*/final.json"))) == 2
    fresh = run_cli(*sweep, "resume=false")
    assert fresh.returncode == 0
    assert len(list(tmp_path.glob("mmlu/random/*/final.json"))) == 4
