"""Joint fit of the sim's behaviour parameters to the evidence file and the single-model targets.

Fits, per task, ``overload_cap`` (also used as ``drift_cap``) and ``garble_rate`` by grid search
to the shape rows of ``suite/sim/evidence/<pool>.yaml``; ``long_context_loss`` is read off the
multi-needle rows (one to one) and ``context_tokens`` is the models' real window. Abilities are
unaffected (a lone node reads nothing) and stay fitted by ``suite.sim.fit``. Prints the residual
table; ``--write`` records the values, what each was fitted to and the residuals in the profile,
but only when every row is within its band.

Loss: the sum over residual rows of ``(shortfall / tol) ** 2``, where a row's shortfall is how
far the sim is outside the row's allowed band (0 inside) and ``tol`` its scale; every row has
weight 1, so a 1-point miss of a 1-point band costs as much as a 2-point miss of a 2-point one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from suite.core.graph import CollabGraph
from suite.core.io import write_atomic
from suite.core.topologies import chain, layered, parallel
from suite.sim.invariants import EVIDENCE_DIR, FANIN_DECLINE, FANIN_WIDTHS
from suite.sim.world import PROFILE_DIR, SimWorld, TaskProfile, expected_accuracy, load_profiles

FIT_TASKS = ("mmlu", "math", "humaneval", "math_synthetic", "gsm8k", "gsm8k_synthetic")
AGGREGATOR = "llama-3.2-3b"
"""The pool's final model: its drift sets how much an aggregator loses by reading more."""
CAP_GRID = (0.2, 0.35, 0.5, 0.7, 0.85, 1.0)
RATE_GRID = (4.0, 8.0)
FIT_QUESTIONS = 2000


@dataclass(frozen=True)
class Row:
    """One residual row: an evidence id, what the source allows and what the sim gives.

    Attributes:
        evidence: The evidence id (or ``single:<model>`` for a single-model target).
        task: The sim task.
        what: The quantity compared, in words.
        reported: The value or band the source allows (``lo``..``hi``).
        sim: The sim's value.
        tol: The scale of a miss (the source's error, or the band's resolution).
    """

    evidence: str
    task: str
    what: str
    lo: float
    hi: float
    sim: float
    tol: float

    @property
    def residual(self) -> float:
        """How far the sim is outside the allowed band (0 inside)."""
        return max(self.lo - self.sim, self.sim - self.hi, 0.0)

    @property
    def within(self) -> bool:
        """Whether the sim is within the band widened by its tolerance."""
        return self.residual <= self.tol

    @property
    def loss(self) -> float:
        """This row's share of the loss."""
        return (self.residual / self.tol) ** 2


def _curve(w: SimWorld, graphs: Sequence[CollabGraph], n: int) -> list[float]:
    return [expected_accuracy(w, g, n) for g in graphs]


def shape_rows(w: SimWorld, final: str, n: int = FIT_QUESTIONS) -> list[Row]:
    """Rows for the insight and voting-shape constraints of one task."""
    t, mid = w.task, AGGREGATOR
    width = _curve(w, [parallel([mid] * k, final) for k in range(1, 13)], n)
    depth = _curve(w, [chain([mid] * d, final) for d in range(1, 9)], n)
    kw, kd = int(np.argmax(width)), int(np.argmax(depth))
    rows = [
        Row(
            "paper_insight2",
            t,
            "width 1..12: peak - width 1",
            0.01,
            1.0,
            width[kw] - width[0],
            0.01,
        ),
        Row(
            "paper_insight2",
            t,
            "width: peak - width 12",
            0.05,
            FANIN_DECLINE,
            width[kw] - width[-1],
            0.01,
        ),
        Row(
            "paper_insight2",
            t,
            "depth 1..8: peak - depth 1",
            0.005,
            1.0,
            depth[kd] - depth[0],
            0.005,
        ),
        Row("paper_insight2", t, "depth: peak - depth 8", 0.03, 1.0, depth[kd] - depth[-1], 0.01),
    ]
    best = {}
    for wd in (1, 2, 4):
        accs = _curve(w, [layered([mid] * (wd * d), wd, final) for d in range(1, 7)], n)
        best[wd] = 1 + int(np.argmax(accs))
    order = float(best[1] >= best[2] >= best[4] and best[1] > best[4])
    rows.append(Row("paper_insight3", t, f"best depth shrinks {best}", 1.0, 1.0, order, 0.5))
    for model in w.profile.models:
        fan = _curve(w, [parallel([model] * k, final) for k in FANIN_WIDTHS], n)
        peak = int(np.argmax(fan))
        drop = fan[peak] - min(fan[peak:])
        rows.append(
            Row(
                "chen2024_more_calls",
                t,
                f"fan-in {model}: fall past peak",
                0.0,
                FANIN_DECLINE - 0.02,
                drop,
                0.01,
            )
        )
    return rows


def with_params(profile: TaskProfile, cap: float, rate: float) -> TaskProfile:
    """The profile with the task's overload cap (also its drift cap) and rate replaced."""
    return replace(profile, overload_cap=cap, drift_cap=cap, garble_rate=rate)


def fit_task(
    task: str, profile: TaskProfile, n: int = FIT_QUESTIONS
) -> tuple[tuple[float, float], float, list[Row]]:
    """The (cap, rate) with the least loss for one task, its loss and its rows."""
    best: tuple[float, tuple[float, float], list[Row]] | None = None
    for cap, rate in itertools.product(CAP_GRID, RATE_GRID):
        rows = shape_rows(SimWorld(task, with_params(profile, cap, rate), 0), AGGREGATOR, n)
        loss = sum(r.loss for r in rows)
        if best is None or loss < best[0]:
            best = (loss, (cap, rate), rows)
    assert best is not None
    return best[1], best[0], best[2]


def joint_fit(
    pool: str, tasks: Sequence[str] = FIT_TASKS, n: int = FIT_QUESTIONS
) -> dict[str, Any]:
    """Each task's (cap, rate) by grid search; the tasks share every model-level value."""
    profiles = load_profiles(pool)
    params, rows, loss = {}, [], 0.0
    for task in tasks:
        params[task], task_loss, task_rows = fit_task(task, profiles[task], n)
        rows += task_rows
        loss += task_loss
    return {"loss": loss, "params": params, "rows": rows}


def print_rows(rows: Sequence[Row], emit: Callable[[str], None] = print) -> None:
    """The residual table: evidence row, reported band, sim value, residual, within or not."""
    head = ("evidence", "task", "what", "reported", "sim", "resid")
    emit(
        f"{head[0]:<22} {head[1]:<16} {head[2]:<44} {head[3]:>13} {head[4]:>7} {head[5]:>7}  within"
    )
    for r in rows:
        band = f"{r.lo:.3f}" if r.lo == r.hi else f"{r.lo:.3f}..{r.hi:.3f}"
        verdict = "yes" if r.within else "NO"
        emit(
            f"{r.evidence:<22} {r.task:<16} {r.what[:44]:<44} {band:>13} {r.sim:>7.3f} "
            f"{r.residual:>7.3f}  {verdict}"
        )


def vote_curves(
    w: SimWorld, models: Sequence[str] | None = None, n: int = FIT_QUESTIONS
) -> dict[str, list[float]]:
    """Fan-in curves into the pool's aggregator at ``FANIN_WIDTHS`` (all models by default)."""
    names = list(w.profile.models) if models is None else list(models)
    return {m: _curve(w, [parallel([m] * k, AGGREGATOR) for k in FANIN_WIDTHS], n) for m in names}


def fit_overload_to_curves(
    task: str,
    profile: TaskProfile,
    observed: Mapping[str, Sequence[float]],
    grid: Sequence[float] = CAP_GRID,
    n: int = FIT_QUESTIONS,
) -> tuple[float, float]:
    """The overload cap whose fan-in curves best match ``observed`` (least squares), and its RMSE.

    This is the fit used when a pool has measured curves (recorded runs, or synthetic data
    from a known profile in the tests); the llama3 pool has only shape constraints.
    """
    scores = []
    for cap in grid:
        world = SimWorld(task, replace(profile, overload_cap=cap), 0)
        sim = vote_curves(world, list(observed), n)
        err = [a - b for m, obs in observed.items() for a, b in zip(sim[m], obs, strict=True)]
        scores.append((float(np.sqrt(np.mean(np.square(err)))), cap))
    rmse, cap = min(scores)
    return cap, rmse


def long_context_rows(pool: str) -> list[Row]:
    """Rows comparing each model's ``long_context_loss`` with the multi-needle evidence."""
    evidence = yaml.safe_load((EVIDENCE_DIR / f"{pool}.yaml").read_text())["evidence"]
    models = next(iter(load_profiles(pool).values())).models
    rows = []
    for ev in evidence:
        if ev["id"] not in ("llama32_nih_multineedle", "llama3_herd_nih_multineedle"):
            continue
        for model, recall in ev["numbers"].items():
            if model in models:
                loss = 1.0 - float(recall) / 100.0
                sim = models[model].long_context_loss
                rows.append(
                    Row(ev["id"], "context", f"{model} loss at 128k", loss, loss, sim, 0.005)
                )
    return rows


def evidence_ids(pool: str) -> list[str]:
    """Every evidence row's id (for the profile's record of what the fit used)."""
    data = yaml.safe_load((EVIDENCE_DIR / f"{pool}.yaml").read_text())
    return [str(ev["id"]) for ev in data["evidence"]]


def current_rows(pool: str, tasks: Sequence[str] = FIT_TASKS, n: int = FIT_QUESTIONS) -> list[Row]:
    """Residual rows of the profile as it stands (no fitting)."""
    profiles = load_profiles(pool)
    rows = long_context_rows(pool)
    for task in tasks:
        rows += shape_rows(SimWorld(task, profiles[task], 0), AGGREGATOR, n)
    return rows


def write_fit(pool: str, fit: Mapping[str, Any]) -> None:
    """Record each task's fitted cap and rate, what they were fitted to and the residuals."""
    path = PROFILE_DIR / f"{pool}.yaml"
    text = path.read_text()
    data = yaml.safe_load(text)
    for task, (cap, rate) in fit["params"].items():
        spec = data["tasks"][task]
        spec["garble_rate"], spec["overload_cap"], spec["drift_cap"] = rate, cap, cap
        rows = [r for r in fit["rows"] if r.task == task]
        spec["fitted"] = {
            "by": "python -m suite.sim.fit --joint --write (suite.sim.jointfit)",
            "overload_cap, drift_cap, garble_rate": sorted({r.evidence for r in rows}),
            "residuals": {r.what: round(r.residual, 4) for r in rows},
        }
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    write_atomic(Path(path), header + body)


def run(pool: str, *, write: bool, emit: Callable[[str], None] = print) -> int:
    """Fit jointly and print the residual table; record the fit only when every row is within.

    Returns:
        0 when every residual row is within its band, else 1 (and nothing is written).
    """
    fit = joint_fit(pool)
    emit(f"== joint fit of {pool} (sim): (overload cap, rate) per task {fit['params']}")
    emit(f"   loss {fit['loss']:.2f} (sum of squared shortfalls over tolerances, weight 1 each)")
    rows = long_context_rows(pool) + fit["rows"]
    print_rows(rows, emit)
    ok = all(r.within for r in rows)
    if write and ok:
        write_fit(pool, fit)
    elif write:
        emit("   not written: rows outside their band (the profile is left as it was)")
    return 0 if ok else 1
