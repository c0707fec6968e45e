"""One bad run folder never stops a leaderboard build: it is named with why and excluded."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.runs import board_of, make_run

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _field(key, value):
    def damage(folder):
        record = json.loads((folder / "final.json").read_text())
        record[key] = value
        (folder / "final.json").write_text(json.dumps(record))

    return damage


def _bytes(name, data):
    def damage(folder):
        (folder / name).write_bytes(data)

    return damage


def _model(folder):
    record = json.loads((folder / "final.json").read_text())
    record["graph"]["final_model"] = "gpt-99"
    (folder / "final.json").write_text(json.dumps(record))


# case -> (damage, excluded?)  (a damaged config.yaml or trials.jsonl is read around, not fatal)
CASES = {
    "test_accuracy abc": (_field("test_accuracy", "abc"), True),
    "budget not a number": (_field("budget_units_max", "twelve"), True),
    "NaN accuracy": (_field("test_accuracy", math.nan), True),
    "final.json nested 100k deep": (_bytes("final.json", b"[" * 100_000 + b"]" * 100_000), True),
    "final.json not UTF-8": (_bytes("final.json", b'{"status": "\xff"}'), True),
    "task name with markup": (_field("task", "<img src=x onerror=alert(1)>"), True),
    "backend name a CSV formula": (_field("backend", "=HYPERLINK(1)"), True),
    "model unknown to the sim pool": (_model, True),
    "task unknown to the sim world": (_field("task", "nosuchtask"), True),
    "config.yaml not UTF-8": (_bytes("config.yaml", b"seed: \xff\xfe\n"), False),
    "trials.jsonl not UTF-8": (_bytes("trials.jsonl", b'{"reward": 1}\n\xff\xfe\n'), False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_folder_is_excluded_and_the_rest_builds(case, tmp_path):
    damage, excluded = CASES[case]
    for seed in range(2):
        make_run(tmp_path, "random", seed)
    bad = make_run(tmp_path, "reinforce", 0)
    make_run(tmp_path, "reinforce", 1)
    damage(bad)
    board = board_of(tmp_path)
    shown = [e.path for e in board.collection.excluded]
    assert (bad in shown) == excluded
    assert len(board.collection.runs) == (3 if excluded else 4)
    for group in board.groups:
        for row in group.rows:
            assert row.rank is None or not math.isnan(row.rank)


@pytest.mark.slow
def test_the_cli_names_each_skipped_folder_in_one_line(tmp_path):
    for seed in range(2):
        make_run(tmp_path, "random", seed)
    bad = make_run(tmp_path, "random", 5)
    _field("test_accuracy", "abc")(bad)
    out = tmp_path / "lb"
    res = subprocess.run(
        [sys.executable, "-m", "suite.leaderboard", str(tmp_path), "--out", str(out), "--no-plots"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=300,
    )
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and bad.name in skipped[0] and "test_accuracy" in skipped[0]
    readme = (tmp_path / "lb" / "README.md").read_text()
    assert bad.name in readme  # listed under the excluded runs


def test_out_naming_a_file_is_one_line(tmp_path):
    make_run(tmp_path, "random", 0)
    target = tmp_path / "afile"
    target.write_text("")
    res = subprocess.run(
        [sys.executable, "-m", "suite.leaderboard", str(tmp_path), "--out", str(target)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=300,
    )
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert res.stderr.startswith("error: ") and "is a file" in res.stderr


def _children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


@pytest.mark.slow
def test_killing_a_build_leaves_no_worker_alive(tmp_path):
    for units in (6, 12, 24, 48):
        for searcher in ("random", "reinforce", "optuna_tpe"):
            for seed in range(2):
                make_run(tmp_path, searcher, seed, units=units)
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite.leaderboard", str(tmp_path), "--out", str(tmp_path / "lb")],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    kids = []
    while time.time() < deadline and proc.poll() is None and not kids:
        kids = _children(proc.pid)
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the build ended before its worker pool started (one core?)")
    proc.kill()
    proc.wait(timeout=30)
    time.sleep(2)
    assert [k for k in kids if Path(f"/proc/{k}").exists()] == []
