"""Every searcher x {mmlu, math, humaneval} x 10 seeds at the paper's budget, on the simulator.

Reports the leaderboard's sim metric (the found graph's expected accuracy over 4,000 simulated
questions, world 0), its regret against the leaderboard's fixed reference (sim_reference.json),
and the question evaluations needed to come within 2 points of that reference. The search
protocol (10 x 3 question evaluations plus 10 for pre-tests, the pilot measured on the id-level
simulator outside the budget) is this benchmark's own: quote the
leaderboard, not this script, for a searcher's standing. All numbers are `sim`; agent searchers
use the `heuristic` agent.
Run: ``python benchmarks/search_efficiency.py [--seeds 10] [--tasks mmlu,math,humaneval]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from tabulate import tabulate

from suite.config import registry
from suite.leaderboard.build import SIM_METRIC
from suite.leaderboard.reference import QUESTIONS, Oracle, reference_version
from suite.search import bench as simbench
from suite.search.testing import contract_space

POOL, UNITS, WORLD_SEED = "llama3", 12, 0  # the leaderboard cell this benchmark reports on
HEADERS = (
    "task (sim)",
    "searcher",
    f"{SIM_METRIC} % (sim, {QUESTIONS:,} q; mean ± SE)",
    "regret vs reference (pts)",
    "question evals to within 2 points of the reference",
    "graph evals",
    "agent-loop iterations",
)


def table(tasks: Sequence[str], searchers: Sequence[str], seeds: int) -> list[list[str]]:
    """One row per (task, searcher), then the task's reference row."""
    oracle = Oracle()
    rows = []
    for task in tasks:
        space = contract_space(task, UNITS)
        reference = oracle.best_known(POOL, task, UNITS, WORLD_SEED)
        for name in searchers:
            runs = [simbench.run(name, task, space, seed) for seed in range(seeds)]
            rows.append(_row(task, name, runs, reference))
        shown = "–" if reference is None else f"{100 * reference:.1f}"
        rows.append([task, "reference graph (sim_reference.json)", shown, "0.0", "", "", ""])
    return rows


def _row(
    task: str, name: str, runs: Sequence[simbench.SimRun], reference: float | None
) -> list[str]:
    # SimRun.test_accuracy is expected_accuracy over 4,000 questions of world 0: the leaderboard's
    # sim metric (reference.QUESTIONS), computed by the same function.
    accs = [r.test_accuracy for r in runs]
    mean = statistics.mean(accs)
    se = statistics.stdev(accs) / len(accs) ** 0.5 if len(accs) > 1 else 0.0
    uses_agent = registry.resolve("searcher", name).uses_agent
    loops = [r.loop_iterations for r in runs if r.loop_iterations is not None]
    shown_loops = f"{min(loops)}-{max(loops)}" if loops else "–"
    if reference is None:
        regret, reach = "–", "no reference"
    else:
        regret = f"{100 * (reference - mean):.1f}"
        spent = [next((q for q, b in r.anytime if b >= reference - 0.02), None) for r in runs]
        hit = [q for q in spent if q is not None]
        reach = (
            f"{statistics.median(hit):.0f} ({len(hit)}/{len(runs)} seeds)"
            if hit
            else f"never (0/{len(runs)})"
        )
    return [
        task,
        f"{name}[heuristic]" if uses_agent else name,
        f"{100 * mean:.1f} ± {100 * se:.1f}",
        regret,
        reach,
        f"{statistics.mean(r.graph_evals for r in runs):.1f}",
        shown_loops,
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tasks", default="mmlu,math,humaneval")
    parser.add_argument("--searchers", default=",".join(registry.names("searcher")))
    args = parser.parse_args()
    start = time.perf_counter()
    rows = table(args.tasks.split(","), args.searchers.split(","), args.seeds)
    print(tabulate(rows, headers=HEADERS, tablefmt="github"))
    print(
        f"\n{args.seeds} seeds, budget {UNITS} units, 10 x 3 + 10 pre-test question evaluations "
        "per search (the pilot outside it); "
        f"reference {reference_version()}; {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
