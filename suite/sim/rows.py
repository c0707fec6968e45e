"""Residual rows: what the evidence file allows and what the simulated world gives.

Owns the rows the joint fit (``suite.sim.jointfit``) minimises and ``benchmarks/sim_fidelity.py``
prints: the Insight-1/2/3 and voting-shape rows of a task (``shape_rows``), the single-model rows,
the long-context rows read off the evidence, and the table that prints them. Each row measures
graphs on the id-level world; nothing here fits or writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import yaml

from suite.config import CONF_DIR
from suite.core.graph import CollabGraph
from suite.core.space import GraphSpace, Mix
from suite.core.topologies import chain, family, layered, parallel
from suite.sim.invariants import EVIDENCE_DIR, FANIN_DECLINE, FANIN_WIDTHS, pool_space
from suite.sim.world import PROFILE_DIR, ModelProfile, SimWorld, expected_accuracy, load_profiles

FIT_TASKS = ("mmlu", "math", "humaneval", "math_synthetic", "gsm8k", "gsm8k_synthetic")
AGGREGATOR = "llama-3.2-3b"
"""The pool's final model: its drift sets how much an aggregator loses by reading more."""
FIT_QUESTIONS = 600
REPORT_QUESTIONS = 3000
MATH_LIKE = ("math", "math_synthetic", "gsm8k", "gsm8k_synthetic")
INSIGHT1_MATH = ("math", "math_synthetic")
"""Tasks where several mid-size models beat one larger (PAPER.md §7; math_synthetic is MATH's
calibration)."""
INSIGHT1_ONE_LARGE = ("mmlu", "humaneval")
"""Tasks where a mix with one larger model beats any without."""


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
    return [_accuracy(w, g, n) for g in graphs]


_MEMO: dict[tuple[int, str, int], float] = {}
"""Accuracies of the world being evaluated (cleared whenever a new evaluation starts)."""


def _accuracy(w: SimWorld, graph: CollabGraph, n: int) -> float:
    """``expected_accuracy`` memoised within one evaluation (its curves share graphs)."""
    key = (id(w), graph.to_json(), n)
    if key not in _MEMO:
        _MEMO[key] = expected_accuracy(w, graph, n)
    return _MEMO[key]


def best_per_mix(
    w: SimWorld,
    sp: GraphSpace,
    n: int = 2000,
    accuracy: Callable[[SimWorld, CollabGraph, int], float] = expected_accuracy,
) -> dict[Mix, float]:
    """For each feasible mix, the best accuracy over the canonical layouts that fit the cap."""
    out = {}
    for mix in sp.feasible_mixes():
        models = [m for m, c in zip(sp.model_names, mix, strict=True) for _ in range(c)]
        graphs = [g for g in family(models, sp.final_model) if sp.is_feasible(g)]
        out[mix] = max(accuracy(w, g, n) for g in graphs)
    return out


def insight1_rows(pool: str, w: SimWorld, n: int) -> list[Row]:
    """PAPER.md §7 Insight 1 at 12 units: which mix wins, and many 1B models is worst."""
    if w.task not in INSIGHT1_MATH + INSIGHT1_ONE_LARGE:
        return []
    mixes = best_per_mix(w, pool_space(pool, w.task, w.profile, 12), n, _accuracy)
    with_big = max(acc for mix, acc in mixes.items() if mix[2] > 0)
    rows = []
    if w.task in INSIGHT1_MATH:
        several_mid = max(acc for mix, acc in mixes.items() if mix[1] >= 2 and mix[2] == 0)
        what, margin = "several 3B - best mix with an 8B", several_mid - with_big
    else:
        without = max(acc for mix, acc in mixes.items() if mix[2] == 0)
        what, margin = "best mix with an 8B - best without", with_big - without
    rows.append(Row("paper_insight1", w.task, what, 0.01, 1.0, margin, 0.01))
    smallest = next(mix for mix in mixes if mix[0] == sum(mix))
    others = min(acc for mix, acc in mixes.items() if mix != smallest)
    rows.append(
        Row(
            "paper_insight1",
            w.task,
            "worst other mix - all 1B",
            0.0,
            1.0,
            others - mixes[smallest],
            0.01,
        )
    )
    return rows


def shape_rows(
    w: SimWorld, final: str, n: int = FIT_QUESTIONS, pool: str | None = None
) -> list[Row]:
    """Rows for the insight and voting-shape constraints of one task (Insight 1 with ``pool``)."""
    _MEMO.clear()
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
    if t in MATH_LIKE and "llama-3.1-8b" in w.profile.models:
        single_big = _accuracy(w, CollabGraph.single("llama-3.1-8b"), n)
        rows.append(
            Row(
                "li2024_more_agents",
                t,
                "best 3B fan-in - 8B alone",
                -0.02,
                1.0,
                max(width) - single_big,
                0.01,
            )
        )
    if pool is not None:
        rows += insight1_rows(pool, w, n)
    return rows


def pool_sizes(pool: str) -> tuple[dict[str, float], str]:
    """Each model's parameter count and the final model's name, from the pool config."""
    cfg = yaml.safe_load((CONF_DIR / "pool" / f"{pool}.yaml").read_text())
    return {m["name"]: float(m["params"]) for m in cfg["models"]}, str(cfg["final_model"])


def single_rows(pool: str, w: SimWorld, n: int = 8000) -> list[Row]:
    """Each model alone against the task's target (PAPER.md §7): band 0, tolerance 2 points."""
    tasks = yaml.safe_load((PROFILE_DIR / f"{pool}.yaml").read_text())["tasks"]
    target = tasks.get(w.task, {}).get("target", {})
    rows = []
    for model, value in target.items():
        acc = expected_accuracy(w, CollabGraph.single(model), n)
        rows.append(Row(f"single:{model}", w.task, f"{model} alone", value, value, acc, 0.02))
    return rows


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
    _MEMO.clear()
    names = list(w.profile.models) if models is None else list(models)
    return {m: _curve(w, [parallel([m] * k, AGGREGATOR) for k in FANIN_WIDTHS], n) for m in names}


def long_context_rows(pool: str, models: Mapping[str, ModelProfile] | None = None) -> list[Row]:
    """Rows comparing each model's ``long_context_loss`` with the multi-needle evidence."""
    evidence = yaml.safe_load((EVIDENCE_DIR / f"{pool}.yaml").read_text())["evidence"]
    if models is None:
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


def current_rows(
    pool: str, tasks: Sequence[str] = FIT_TASKS, n: int = REPORT_QUESTIONS
) -> list[Row]:
    """Residual rows of the profile as it stands (no fitting)."""
    profiles = load_profiles(pool)
    _, final = pool_sizes(pool)
    rows = long_context_rows(pool)
    for task in tasks:
        world = SimWorld(task, profiles[task], 0)
        rows += shape_rows(world, final, n, pool) + single_rows(pool, world)
    return rows
