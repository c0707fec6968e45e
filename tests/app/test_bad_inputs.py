"""Bad inputs to every entry point: one line on stderr, exit 2, no traceback, no folder left.

The catalogue of issue #13 §3 and #14 item 10, grouped by entry point.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses and whole runs: pytest -m 'not slow' skips them

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
SMALL = ("n_iterations=1", "test_n=2")


def run(module, *args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        cwd=ROOT,
        timeout=timeout,
    )


def one_line_error(proc):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-600:])
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr[-2000:]
    return lines[0]


# (overrides, extra environment, words the error line holds); {tmp} is a scratch folder
RUN_CASES = {
    "seed of 301 digits": (["seed=1" + "0" * 300], {}, "File name too long"),
    "hydra.run.dir unreachable": (["hydra.run.dir=/proc/nope"], {}, "/proc/nope"),
    "optuna storage unreachable": (
        ["searcher=optuna_tpe", "searcher.storage=sqlite:////proc/nope/tpe.db"],
        {},
        "/proc/nope",
    ),
    "~seed": (["~seed"], {}, "seed"),
    "cache dir is a file": ([], {"TTSGB_CACHE_DIR": "{tmp}/afile"}, "TTSGB_CACHE_DIR"),
    "cache dir unreachable": ([], {"TTSGB_CACHE_DIR": "/proc/nope"}, "TTSGB_CACHE_DIR"),
    "unresolvable results_dir": (
        ["results_dir=${oc.env:TTSGB_NO_SUCH_VAR}/r"],
        {},
        "TTSGB_NO_SUCH",
    ),
    "a sweep without -m": (["seed=1,2"], {}, "--multirun"),
    "batch larger than the search split": (["batch_size=100000"], {}, "search split"),
    "budget too large to enumerate": (["searcher=random", "budget.units=3000"], {}, "budget"),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_suite_run_bad_input(case, tmp_path):
    overrides, env, needle = RUN_CASES[case]
    (tmp_path / "afile").write_text("")
    env = {k: v.format(tmp=tmp_path) for k, v in env.items()}
    results = tmp_path / "results"
    args = [f"results_dir={results}", *SMALL, *overrides]
    line = one_line_error(run("suite.run", *args, env=env))
    assert needle in line
    leaf = [p for p in results.glob("*/*/*") if p.is_dir()] if results.exists() else []
    assert leaf == [], leaf  # no run folder left behind
    assert not (ROOT / "${oc.env:TTSGB_NO_SUCH_VAR}").exists()


def _deep(n):
    return ("[" * n + "]" * n).encode()


def _graph(node_id, n=1):
    nodes = [
        {"id": f"{node_id}{i}" if n > 1 else node_id, "model": "llama-3.2-1b"} for i in range(n)
    ]
    for node in nodes:
        node["role"] = "assistant"
    edges = [[node["id"], "final"] for node in nodes]
    return json.dumps({"final_model": "llama-3.2-1b", "nodes": nodes, "edges": edges}).encode()


EVALUATE_CASES = {
    "graph not UTF-8": (b'{"nodes": "\xff\xfe"}', "UTF-8"),
    "graph nested 100k deep": (_deep(100_000), "nested too deeply"),
    "node id n²": (_graph("n²"), "not a collaboration graph"),
    "node id of 5,000 digits": (_graph("n" + "1" * 5000), "not a collaboration graph"),
    "final.json holding a list": (b"[1, 2]", "must be an object"),
    "final.json holding a number": (b"42", "must be an object"),
    "10,000 nodes": (_graph("n", 10_000), "nodes"),
}


@pytest.mark.parametrize("case", list(EVALUATE_CASES))
def test_suite_evaluate_bad_graph(case, tmp_path):
    content, needle = EVALUATE_CASES[case]
    path = tmp_path / "graph.json"
    path.write_bytes(content)
    line = one_line_error(run("suite.evaluate", f"graph={path}", timeout=30))
    assert needle in line


@pytest.mark.parametrize("where", ["/dev/zero", "{tmp}"], ids=["device", "folder"])
def test_suite_evaluate_graph_that_is_not_a_file(where, tmp_path):
    line = one_line_error(run("suite.evaluate", f"graph={where.format(tmp=tmp_path)}", timeout=30))
    assert "not a regular file" in line


def test_suite_evaluate_out_is_a_folder(tmp_path):
    line = one_line_error(run("suite.evaluate", "graph=single:llama-3.2-1b", f"out={tmp_path}"))
    assert "is a folder" in line


def test_suite_evaluate_says_where_it_wrote(tmp_path):
    results = tmp_path / "r"
    proc = run("suite.evaluate", "graph=single:llama-3.2-1b", "test_n=5", f"results_dir={results}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = results.glob("mmlu/single/*.json")
    assert proc.stdout.splitlines()[-1] == f"wrote {path}"
    record = json.loads(path.read_text())
    assert record["test_n"] == 5 and record["command"].startswith("python -m suite.evaluate")
    out = tmp_path / "e.json"
    again = run("suite.evaluate", "graph=single:llama-3.2-1b", "test_n=5", f"out={out}")
    assert again.stdout.splitlines()[-1] == f"wrote {out}" and out.exists()


BASELINES = {
    "garbage": b"{garbage",
    "a JSON list": b"[1, 2, 3]",
    "not UTF-8": b'{"cells": "\xff"}',
    "nested 100k deep": _deep(100_000),
    "cells of the wrong shape": b'{"cells": {"mmlu/random": {"seeds": 1}}}',
}


@pytest.mark.parametrize("case", list(BASELINES))
def test_suite_regress_checks_the_baseline_before_the_gate(case, tmp_path):
    path = tmp_path / "ci.json"
    path.write_bytes(BASELINES[case])
    line = one_line_error(run("suite.regress", "--baseline", str(path), timeout=30))
    assert str(path) in line


def test_suite_missing_without_a_sweep_says_what_it_needs():
    line = one_line_error(run("suite.missing", timeout=60))
    assert "+experiment=" in line and "key=a,b" in line


def test_suite_missing_takes_an_ad_hoc_sweep(tmp_path):
    proc = run("suite.missing", "searcher=random,optuna_tpe", "seed=0,1", f"results_dir={tmp_path}")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1].startswith("4 of 4 cells have no completed run")


def test_a_failed_sweep_cell_gives_one_error_line(tmp_path):
    proc = run(
        "suite.run",
        "-m",
        f"results_dir={tmp_path}",
        "searcher=random",
        *SMALL,
        "pool.models.0.units.default=3",
        "pool.final_model=llama-3.2-3b",
        "budget.units=2,6",
        timeout=300,
    )
    line = one_line_error_among(proc)
    assert line.startswith("error: 1 cell(s) of the sweep failed:") and "too small" in line
    assert not list(tmp_path.glob(".sweep-failures-*"))


def one_line_error_among(proc):
    """The only ``error:`` line of a command that also prints progress lines."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-600:])
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-2000:]
    return errors[0]
