"""Every searcher x {mmlu, math, humaneval} x 10 seeds at the paper's budget, on the simulator.

Prints mean +- SE of test accuracy (expected accuracy over 4,000 held-out simulated questions),
regret against the best known graph, and the question evaluations needed to come within 2
points of it. All numbers are `sim`; agent searchers use the `heuristic` agent.
Run: ``python benchmarks/search_efficiency.py [--seeds 10] [--tasks mmlu,math,humaneval]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tabulate import tabulate

from suite.config import registry
from suite.search import bench as simbench
from suite.search.testing import contract_space
from suite.sim import fit as simfit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--tasks", default="mmlu,math,humaneval")
    parser.add_argument("--searchers", default=",".join(registry.names("searcher")))
    args = parser.parse_args()
    start = time.perf_counter()
    rows = []
    for task in args.tasks.split(","):
        space = contract_space(task)
        canonical = max(simfit.best_per_mix(simfit.world("llama3", task), space, 4000).values())
        runs = {
            name: [simbench.run(name, task, space, seed) for seed in range(args.seeds)]
            for name in args.searchers.split(",")
        }
        found = max(r.test_accuracy for rs in runs.values() for r in rs)
        best_known = max(canonical, found)
        for name, rs in runs.items():
            accs = [r.test_accuracy for r in rs]
            mean = statistics.mean(accs)
            se = statistics.stdev(accs) / len(accs) ** 0.5 if len(accs) > 1 else 0.0
            reach = [next((q for q, b in r.anytime if b >= best_known - 0.02), None) for r in rs]
            hit = [q for q in reach if q is not None]
            uses_agent = registry.resolve("searcher", name).uses_agent
            rows.append(
                [
                    task,
                    f"{name}[heuristic]" if uses_agent else name,
                    f"{100 * mean:.1f} ± {100 * se:.1f}",
                    f"{100 * (best_known - mean):.1f}",
                    f"{statistics.median(hit):.0f} ({len(hit)}/{len(rs)} seeds)"
                    if hit
                    else f"never (0/{len(rs)})",
                    f"{statistics.mean(r.graph_evals for r in rs):.1f}",
                ]
            )
        rows.append([task, "best known graph", f"{100 * best_known:.1f}", "0.0", "", ""])
    headers = [
        "task (sim)",
        "searcher",
        "test acc % (mean ± SE)",
        "regret (points)",
        "question evals to within 2 points",
        "graph evals",
    ]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    print(
        f"\n{args.seeds} seeds, budget 12 units, 10 x 3 question evaluations per search; "
        f"{time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
