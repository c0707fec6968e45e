"""Fit the simulator's abilities to the paper's single-model table and report its insights.

``python -m suite.sim.fit --write`` refits ``suite/sim/<pool>.yaml``; without ``--write`` it
only prints the calibration and the three insight checks (PAPER.md §7).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import yaml

from suite.config import CONF_DIR, build_space
from suite.core.cost import TokenProfile
from suite.core.graph import CollabGraph
from suite.core.io import write_atomic
from suite.core.space import GraphSpace, Mix
from suite.core.topologies import chain, layered, parallel
from suite.sim import jointfit, rows
from suite.sim.world import PROFILE_DIR, SimWorld, TaskProfile, expected_accuracy, load_profiles

FIT_QUESTIONS = 8000


def world(pool: str, task: str, seed: int = 0) -> SimWorld:
    """The simulated world of one task of a pool."""
    return SimWorld(task, load_profiles(pool)[task], seed)


def fit_ability(w: SimWorld, model: str, target: float, n_questions: int = FIT_QUESTIONS) -> float:
    """Bisect the model's ability until its single-model accuracy equals ``target``."""
    lo, hi = -8.0, 8.0
    for _ in range(40):
        mid = (lo + hi) / 2
        profile = replace(w.profile.models[model], ability=mid)
        models = {**w.profile.models, model: profile}
        trial = SimWorld(w.task, replace(w.profile, models=models), 0)
        trial.base = w.base
        acc = expected_accuracy(trial, CollabGraph.single(model), n_questions)
        lo, hi = (mid, hi) if acc < target else (lo, mid)
    return round((lo + hi) / 2, 4)


def space(pool: str, task: str, profile: TaskProfile, units: int = 12) -> GraphSpace:
    """The task's GraphSpace at a budget, from the pool config."""
    cfg = yaml.safe_load((CONF_DIR / "pool" / f"{pool}.yaml").read_text())
    return build_space(cfg, task, TokenProfile(profile.input_tokens, profile.output_tokens), units)


def best_per_mix(w: SimWorld, sp: GraphSpace, n_questions: int = 2000) -> dict[Mix, float]:
    """For each feasible mix, the best accuracy over the canonical layouts that fit the cap."""
    return rows.best_per_mix(w, sp, n_questions)


def width_curve(w: SimWorld, model: str, final: str, widths: Sequence[int]) -> list[float]:
    """Accuracy of ``k`` parallel nodes of one model into ``final``, for each k."""
    return [expected_accuracy(w, parallel([model] * k, final), 3000) for k in widths]


def depth_curve(w: SimWorld, model: str, final: str, depths: Sequence[int]) -> list[float]:
    """Accuracy of a chain of ``d`` nodes of one model into ``final``, for each d."""
    return [expected_accuracy(w, chain([model] * d, final), 3000) for d in depths]


def best_depth_by_width(
    w: SimWorld,
    model: str,
    final: str,
    widths: Sequence[int],
    depths: Sequence[int],
    n_questions: int = 4000,
) -> dict[int, int]:
    """For each width, the number of layers that maximises a layered mesh's accuracy."""
    out = {}
    for wd in widths:
        accs = [
            expected_accuracy(w, layered([model] * (wd * d), wd, final), n_questions)
            for d in depths
        ]
        out[wd] = depths[int(np.argmax(accs))]
    return out


def report(pool: str) -> dict[str, Any]:
    """Calibration and insight figures for every task of a pool's profile."""
    profiles = load_profiles(pool)
    targets = yaml.safe_load((PROFILE_DIR / f"{pool}.yaml").read_text())["tasks"]
    out: dict[str, Any] = {}
    for task, prof in profiles.items():
        w = SimWorld(task, prof, 0)
        sp = space(pool, task, prof)
        single = {
            m: expected_accuracy(w, CollabGraph.single(m), FIT_QUESTIONS) for m in prof.models
        }
        mid = sp.model_names[1]
        out[task] = {
            "single": single,
            "target": targets[task]["target"],
            "best_per_mix": best_per_mix(w, sp),
            "width": width_curve(w, mid, sp.final_model, range(1, 13)),
            "depth": depth_curve(w, mid, sp.final_model, range(1, 9)),
            "best_depth": best_depth_by_width(w, mid, sp.final_model, [1, 2, 4], range(1, 7)),
        }
    return out


def _write_abilities(pool: str) -> None:
    path = PROFILE_DIR / f"{pool}.yaml"
    text = path.read_text()
    data = yaml.safe_load(text)
    for task, prof in load_profiles(pool).items():
        w = SimWorld(task, prof, 0)
        for model, target in data["tasks"][task]["target"].items():
            data["tasks"][task]["ability"][model] = fit_ability(w, model, float(target))
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    write_atomic(path, header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: refit abilities (``--write``) and print calibration and insight figures."""
    parser = argparse.ArgumentParser(prog="python -m suite.sim.fit", description=__doc__)
    parser.add_argument("--pool", default="llama3")
    parser.add_argument("--write", action="store_true", help="refit abilities into the profile")
    parser.add_argument(
        "--joint",
        action="store_true",
        help="also fit behaviour to the evidence (suite.sim.jointfit)",
    )
    args = parser.parse_args(argv)
    if args.joint:
        jointfit.run(args.pool, write=args.write)
    if args.write:
        _write_abilities(args.pool)
    for task, r in report(args.pool).items():
        print(f"== {task} (sim)")
        for m, acc in r["single"].items():
            print(f"  single {m:<14} {acc:.3f}  target {r['target'][m]:.2f}")
        for mix, acc in sorted(r["best_per_mix"].items(), key=lambda kv: -kv[1]):
            print(f"  best graph for mix {mix}: {acc:.3f}")
        print("  width 1..12: " + " ".join(f"{a:.3f}" for a in r["width"]))
        print("  depth 1..8:  " + " ".join(f"{a:.3f}" for a in r["depth"]))
        print(f"  best depth by width: {r['best_depth']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
