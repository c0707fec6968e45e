"""Damaged run folders: every rerun says in one line what it did, loses no valid trial, finishes.

Also SIGTERM (stops like Ctrl-C, resumable), a finished single run that is not repeated, and
killed runs that leave no empty folders, failure logs or temporary files behind.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses and whole runs: pytest -m 'not slow' skips them

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
ARGS = ["searcher=random", "n_iterations=4", "test_n=5"]
LONG = ["searcher=random", "n_iterations=400", "test_n=5"]
SWEEP = ["searcher=random", "seed=0,1", "n_iterations=2", "test_n=5"]


def run(results, *extra, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "suite.run", f"results_dir={results}", *ARGS, *extra],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def folders(results):
    return sorted(p for p in Path(results).glob("mmlu/random/*") if p.is_dir())


def lines(path):
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory):
    """A run folder that looks stopped after its last checkpoint (status ``interrupted``)."""
    results = tmp_path_factory.mktemp("base")
    proc = run(results)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (folder,) = folders(results)
    final = json.loads((folder / "final.json").read_text())
    final["status"] = "interrupted"
    (folder / "final.json").write_text(json.dumps(final))
    return results


def _checkpoint(text_or_bytes):
    def damage(folder):
        path = folder / "checkpoint.json"
        if isinstance(text_or_bytes, bytes):
            path.write_bytes(text_or_bytes)
        else:
            path.write_text(text_or_bytes)

    return damage


def _checkpoint_is_a_folder(folder):
    (folder / "checkpoint.json").unlink()
    (folder / "checkpoint.json").mkdir()


def _trial_line(replacement):
    def damage(folder):
        rows = lines(folder / "trials.jsonl")
        rows[1] = replacement
        (folder / "trials.jsonl").write_bytes(b"\n".join(rows) + b"\n")

    return damage


def _truncate(folder):
    rows = lines(folder / "trials.jsonl")
    (folder / "trials.jsonl").write_bytes(b"\n".join(rows[:2]) + b"\n")


def _delete_trials(folder):
    (folder / "trials.jsonl").unlink()


def _lock_is_a_folder(folder):
    (folder / ".lock").unlink(missing_ok=True)
    (folder / ".lock").mkdir()


def _checkpoint_of_another_shape(folder):
    ckpt = json.loads((folder / "checkpoint.json").read_text())
    ckpt["stream"] = {"rng": "nope", "order": 3}
    (folder / "checkpoint.json").write_text(json.dumps(ckpt))


DAMAGED = {
    "checkpoint garbage": _checkpoint("{garbage"),
    "checkpoint empty object": _checkpoint("{}"),
    "checkpoint wrong type": _checkpoint("[1, 2, 3]"),
    "checkpoint wrong field types": _checkpoint_of_another_shape,
    "checkpoint is a folder": _checkpoint_is_a_folder,
    "checkpoint not UTF-8": _checkpoint(b'{"trials": "\xff\xfe"}'),
    "checkpoint nested 100k deep": _checkpoint("[" * 100_000 + "]" * 100_000),
    "trials bad line": _trial_line(b"{not json"),
    "trials non-UTF-8 line": _trial_line(b'{"reward": "\xff"}'),
    "trials truncated": _truncate,
    "trials deleted": _delete_trials,
    "lock is a folder": _lock_is_a_folder,
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_run_folder_is_set_aside_and_the_run_starts_anew(case, unfinished, tmp_path):
    results = tmp_path / "r"
    shutil.copytree(unfinished, results)
    (old,) = folders(results)
    DAMAGED[case](old)
    kept = {p.name: p.read_bytes() for p in old.iterdir() if p.is_file() and p.name != ".lock"}
    kept.pop("final.json")
    kept.pop("checkpoint.json", None)
    proc = run(results)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    notes = [line for line in proc.stderr.splitlines() if "is damaged" in line]
    assert len(notes) == 1 and str(old) in notes[0], proc.stderr[-2000:]
    for name, data in kept.items():  # nothing lost: every file of the damaged folder is there
        assert (old / name).read_bytes() == data, name
    assert (old / "checkpoint.damaged.json").exists()
    assert json.loads((old / "final.json").read_text())["status"] == "failed"
    (new,) = [f for f in folders(results) if f != old]
    final = json.loads((new / "final.json").read_text())
    assert final["status"] == "completed"
    (base,) = folders(unfinished)  # the uninterrupted run: as many trials as the restart made
    assert final["graph_evals"] == len(lines(new / "trials.jsonl"))
    assert (new / "trials.jsonl").read_bytes() == (base / "trials.jsonl").read_bytes()
    assert not (old / "checkpoint.json").exists()  # so no later resume picks it up again


@pytest.mark.parametrize(
    "tail", [b"{torn", b'{"reward": "\xff\xfe"}', b"\xff\xfe\xfd"], ids=["torn", "utf8", "binary"]
)
def test_a_bad_line_after_the_checkpoint_is_dropped_and_the_run_resumes(tail, unfinished, tmp_path):
    results = tmp_path / "r"
    shutil.copytree(unfinished, results)
    (old,) = folders(results)
    good = (old / "trials.jsonl").read_bytes()
    (old / "trials.jsonl").write_bytes(good + tail + b"\n")
    (old / ".checkpoint.json.abc.tmp").write_text("{half")  # a kill mid-write left this
    proc = run(results)
    assert proc.returncode == 0 and "resuming" in proc.stderr, proc.stderr[-2000:]
    assert folders(results) == [old]
    assert (old / "trials.jsonl").read_bytes() == good
    final = json.loads((old / "final.json").read_text())
    assert final["status"] == "completed"
    assert final["graph_evals"] == len(lines(old / "trials.jsonl"))
    assert not list(old.glob(".*.tmp"))


def test_a_finished_single_run_is_not_repeated_unless_resume_false(unfinished, tmp_path):
    results = tmp_path / "r"
    first = run(results)
    assert first.returncode == 0
    (done,) = folders(results)
    again = run(results)
    assert again.returncode == 0
    note = [line for line in again.stderr.splitlines() if "run already completed" in line]
    assert note == [f"run already completed: {done}; pass resume=false to start a new run"]
    assert folders(results) == [done]
    fresh = run(results, "resume=false")
    assert fresh.returncode == 0 and len(folders(results)) == 2


def test_sigterm_marks_the_run_interrupted_and_it_resumes(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite.run", f"results_dir={tmp_path}", *LONG],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("mmlu/random/*/checkpoint.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    (final,) = tmp_path.glob("mmlu/random/*/final.json")
    assert json.loads(final.read_text())["status"] == "interrupted"


def test_runs_killed_at_start_up_leave_no_empty_folder_or_failure_log(tmp_path):
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen(
            [sys.executable, "-m", "suite.run", "-m", f"results_dir={tmp_path}", *SWEEP],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    for folder in tmp_path.glob("mmlu/random/*"):
        assert folder.is_file() or any(folder.iterdir()), folder
    assert not list(tmp_path.glob(".sweep-failures-*"))
    assert not list(tmp_path.rglob("*.tmp"))


def test_final_json_records_the_command_line_and_the_git_commit(unfinished):
    (folder,) = folders(unfinished)
    final = json.loads((folder / "final.json").read_text())
    assert final["command"].startswith("python -m suite.run results_dir=")
    assert "searcher=random" in final["command"]
    assert final["git_commit"] is None or len(final["git_commit"]) == 40
