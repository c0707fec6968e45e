"""Sweep throughput: runs/s, seconds to compose, total seconds and per-worker memory, per launcher.

Runs ``python -m suite.run -m +experiment=leaderboard_sim ...`` in fresh results folders, once
per launcher, and reads each sweep's ledger (one JSON line per cell: worker pid, resident and
peak memory after the cell) and its output ("composed N configs in X s"):

    python benchmarks/sweep_throughput.py                 # the subset (task=mmlu budget=u12,
                                                          # 70 cells) on every launcher
    python benchmarks/sweep_throughput.py --full          # and the full matrix (1,120 cells)
                                                          # once on the warm launcher
    python benchmarks/sweep_throughput.py --full-only --launchers warm,joblib

Launchers: ``hydra-basic`` (Hydra's own sweeper and launcher: every config composed twice in
the parent, as before the suite's sweeper), ``basic`` (the suite's sweeper, Hydra's basic
launcher), ``joblib`` and ``warm`` (``-m``'s default; both with ``--workers`` processes).
Every cell is a real sim run; the figures are wall-clock on this machine, so the CPU seconds
of all the sweep's processes and the load average before and after are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ["task=mmlu", "budget=u12"]  # 7 searchers x 10 seeds = 70 cells
LAUNCHERS = {
    "hydra-basic": ["hydra/sweeper=basic", "hydra/launcher=basic"],
    "basic": ["hydra/launcher=basic"],
    "joblib": ["+experiment/launcher=joblib", "hydra.launcher.n_jobs={workers}"],
    "warm": ["+experiment/launcher=warm", "hydra.launcher.n_jobs={workers}"],
}


def sweep(launcher: str, cells: list[str], workers: int) -> dict[str, Any]:
    """Run one sweep in a fresh results folder; returns its figures."""
    extra = [a.format(workers=workers) for a in LAUNCHERS[launcher]]
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        ledger = Path(tmp) / "ledger.jsonl"
        cmd = [sys.executable, "-m", "suite.run", "-m", "+experiment=leaderboard_sim", *extra,
               *cells, f"results_dir={tmp}/results"]  # fmt: skip
        env = {**os.environ, "TTSGB_SWEEP_LEDGER": str(ledger), "HF_HUB_OFFLINE": "1",
               "HF_DATASETS_OFFLINE": "1"}  # fmt: skip
        load_before = os.getloadavg()[0]
        cpu_before = _children_cpu_s()
        started, started_at = time.perf_counter(), time.time()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        total_s = time.perf_counter() - started
        cpu_s = _children_cpu_s() - cpu_before
        load_after = os.getloadavg()[0]
        if done.returncode != 0:
            raise SystemExit(f"{launcher}: exit {done.returncode}: {done.stderr[-2000:]}")
        lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    cellrecs = [c for c in lines if "plan" not in c]
    composed = re.search(r"composed (\d+) configs in ([\d.]+) s", done.stdout)
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for c in cellrecs:
        by_pid.setdefault(int(c["pid"]), []).append(c)
    workers_mem = [memory(cs) for cs in by_pid.values()]
    return {
        "launcher": launcher,
        "cells": len(cellrecs),
        "completed": sum(1 for c in cellrecs if c["status"] == "completed"),
        "total_s": total_s,
        "runs_per_s": len(cellrecs) / total_s,
        "compose_s": float(composed.group(2)) if composed else None,
        "wall_s_per_cell": sum(float(c["seconds"]) for c in cellrecs) / max(1, len(cellrecs)),
        "cpu_s_per_cell": sum(float(c["cpu_s"]) for c in cellrecs) / max(1, len(cellrecs)),
        "cpu_s": cpu_s,
        "first_cell_s": min(float(c["ended_at"]) - float(c["seconds"]) for c in cellrecs)
        - started_at,
        "workers": workers_mem,
        "load": (load_before, load_after),
    }


def memory(cells: list[dict[str, Any]]) -> tuple[int, float, float, float, float]:
    """A worker's cells, and its resident MB after its first cell, after the cell that loaded
    its last task (warm from there on), after its last cell, and its peak."""
    loads = [int(c.get("task_loads", 0)) for c in cells]
    warm = cells[loads.index(max(loads))]
    return (len(cells), float(cells[0]["rss_mb"]), float(warm["rss_mb"]),
            float(cells[-1]["rss_mb"]), float(cells[-1]["peak_rss_mb"]))  # fmt: skip


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of finished child processes and their waited-for children."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def show(rows: list[dict[str, Any]], title: str) -> None:
    """Print one table: a row per launcher."""
    print(f"\n{title}")
    head = (
        "launcher", "cells", "total s", "runs/s", "compose s (sweeper)",
        "first cell started after s",
        "CPU s (all processes)", "per cell in its process: wall s, CPU s",
        "per worker: cells, RSS MB first cell -> all tasks loaded -> last cell (peak)",
        "load 1-min before/after",
    )  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        mem = "; ".join(
            f"{n}, {a:.0f} -> {w:.0f} -> {b:.0f} ({p:.0f})" for n, a, w, b, p in r["workers"]
        )
        compose = "none printed" if r["compose_s"] is None else f"{r['compose_s']:.1f}"
        before, after = r["load"]
        print(
            f"| {r['launcher']} | {r['completed']}/{r['cells']} | {r['total_s']:.1f} | "
            f"{r['runs_per_s']:.2f} | {compose} | {r['first_cell_s']:.1f} | {r['cpu_s']:.0f} | "
            f"{r['wall_s_per_cell']:.2f}, {r['cpu_s_per_cell']:.2f} | {mem} | "
            f"{before:.1f}/{after:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="joblib/warm processes (2)")
    parser.add_argument("--launchers", default="hydra-basic,basic,joblib,warm")
    parser.add_argument("--full", action="store_true", help="also the full matrix on warm")
    parser.add_argument("--full-only", action="store_true", help="only the full matrix")
    parser.add_argument("--full-launchers", default="warm", help="launchers for the full matrix")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.workers} workers for joblib and warm; "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}")  # fmt: skip
    if not args.full_only:
        rows = [sweep(name, SUBSET, args.workers) for name in args.launchers.split(",")]
        show(rows, "subset: leaderboard_sim with task=mmlu budget=u12 (7 searchers x 10 seeds)")
    if args.full or args.full_only:
        rows = [sweep(name, [], args.workers) for name in args.full_launchers.split(",")]
        show(rows, "full leaderboard_sim matrix (7 searchers x 4 tasks x 4 budgets x 10 seeds)")


if __name__ == "__main__":
    main()
