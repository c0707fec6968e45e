"""Simulated node calls per second through executor + sim backend + lm-eval scoring.

Also times the default ``python -m suite.run`` end to end, and the id-level simulator used for
expected accuracies. Prints figures, asserts nothing. Run: ``python benchmarks/sim_throughput.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from suite import config
from suite.app import cli
from suite.core.distribution import GraphDistribution
from suite.engine import session
from suite.engine.loop import evaluate
from suite.sim.world import expected_accuracy


def executor_throughput(n_graphs: int = 40, repeats: int = 3) -> None:
    sess = session.build(config.load(cli.compose([])))
    rng = np.random.default_rng(0)
    dist = GraphDistribution(sess.space)
    mixes = sess.space.feasible_mixes()
    graphs = [
        sess.space.repair(dist.sample(rng, mix=mixes[k % len(mixes)]).full, rng)[0]
        for k in range(n_graphs)
    ]
    docs = sess.task.search_docs
    sess.task.task  # noqa: B018  lm-eval's task loads on the first score; not part of the rate
    rates = []
    for _ in range(repeats):
        before = sess.meter.tally("bench").calls
        start = time.perf_counter()
        for g in graphs:
            evaluate(sess.executor, sess.task.score_many, g, docs, "bench")
        rates.append((sess.meter.tally("bench").calls - before) / (time.perf_counter() - start))
    print(
        f"executor+sim+lm-eval scoring, {n_graphs} graphs x {len(docs)} questions each: "
        f"{rates[0]:,.0f} node calls/s on the first pass, {max(rates[1:]):,.0f} once "
        "prompt and score caches are warm"
    )
    # one graph per question, as a searcher's batch of 3 sends it
    start = time.perf_counter()
    before = sess.meter.tally("bench").calls
    for g in graphs:
        evaluate(sess.executor, sess.task.score_many, g, docs[:3], "bench")
    small = (sess.meter.tally("bench").calls - before) / (time.perf_counter() - start)
    print(f"  at batch 3 (the search loop's shape): {small:,.0f} node calls/s")
    start = time.perf_counter()
    for g in graphs[:10]:
        expected_accuracy(sess.backend.world, g, 4000)
    calls = sum(len(g.nodes) + 1 for g in graphs[:10]) * 4000
    rate = calls / (time.perf_counter() - start)
    print(f"id-level simulator (expected_accuracy): {rate:,.0f} node calls/s")


def default_run_wall(repeats: int = 3) -> None:
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "suite.run", f"results_dir={tmp}", "resume=false"],
                check=True,
                capture_output=True,
            )
            walls.append(time.perf_counter() - start)
    print(
        f"python -m suite.run (default, incl. start-up): median {statistics.median(walls):.2f} s "
        f"over {repeats} runs (min {min(walls):.2f}, max {max(walls):.2f})"
    )


if __name__ == "__main__":
    print(f"machine: {os.cpu_count()} cores; numpy {np.__version__}")
    executor_throughput()
    if "--no-run" not in sys.argv:
        default_run_wall()
