"""Joint fit of the sim's behaviour parameters to the evidence file and the single-model targets.

What is fitted (``python -m suite.simfit --joint --write``, or ``python -m suite.sim.fit``):

* Read off the evidence one to one: every model's ``context_tokens`` (its real window, the model
  cards' "Context Length") and ``long_context_loss`` (1 - multi-needle recall at 128k).
* Fitted, shared by every task: how much a model can read before conflicting answers start to
  confuse it, ``reading_tokens = READING_REF * (params / params_final) ** READING_EXP``, and its
  drift, ``drift = DRIFT_REF * (params / params_final) ** -DRIFT_EXP`` (larger models tolerate
  longer inputs, the evidence's InfiniteBench rows and the paper's insights, so both exponents
  are kept at or above 0).
* Fitted per task: every behaviour weight of ``TaskProfile`` (``vote_weight``, ``self_weight``,
  ``verify_weight``, ``fuser_self``, ``fuser_verify``, ``refine_gain``, ``mislead``,
  ``garble_rate``, ``overload_cap``, ``drift_cap``).
* Abilities: a lone node reads nothing, so no behaviour parameter moves single-model accuracy;
  each ability is bisected to its PAPER.md §7 target (``suite.sim.fit``), which is the joint
  optimum of those rows whatever the behaviour values. The single-model rows are printed with
  the others.
* Not fitted (task structure that no evidence row identifies, stated in the profile):
  ``input_tokens``, ``output_tokens``, ``difficulty_sd``, ``same_model_corr``, ``n_distractors``,
  ``distractor_power``.

Loss: the sum over residual rows of ``(shortfall / tol) ** 2``, where a row's shortfall is how
far the sim is outside the band the source allows (0 inside) and ``tol`` its scale (the
source's resolution, 1 point for most shape rows), plus ``PRIOR_WEIGHT`` times the sum of the
squared distances of each parameter from its prior (the hand-set value it started from) in
prior-scale units (a factor of 2 for positive values, 0.25 for caps). The prior keeps the
parameters that the evidence does not pin near their stated start instead of drifting to an
arbitrary corner. Minimised by coordinate descent on multiplicative grids, on FIT_QUESTIONS
simulated questions per graph; the residual table is then recomputed on REPORT_QUESTIONS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from suite.config import CONF_DIR
from suite.core.graph import CollabGraph
from suite.core.io import write_atomic
from suite.core.space import GraphSpace, Mix
from suite.core.topologies import chain, family, layered, parallel
from suite.sim.invariants import EVIDENCE_DIR, FANIN_DECLINE, FANIN_WIDTHS, pool_space
from suite.sim.world import (
    PROFILE_DIR,
    ModelProfile,
    SimWorld,
    TaskProfile,
    expected_accuracy,
    load_profiles,
)

FIT_TASKS = ("mmlu", "math", "humaneval", "math_synthetic", "gsm8k", "gsm8k_synthetic")
AGGREGATOR = "llama-3.2-3b"
"""The pool's final model: its drift sets how much an aggregator loses by reading more."""
CAP_GRID = (0.2, 0.35, 0.5, 0.7, 0.85, 1.0)
FIT_QUESTIONS = 600
REPORT_QUESTIONS = 3000
PRIOR_WEIGHT = 0.25
"""Weight of the prior term: moving a parameter one prior scale costs a quarter of a row
missing its band by one tolerance."""
PASSES = 8
POLISH = ("overload_cap", "garble_rate", "drift_cap")
POLISH_QUESTIONS = 2000
MATH_LIKE = ("math", "math_synthetic", "gsm8k", "gsm8k_synthetic")
INSIGHT1_MATH = ("math", "math_synthetic")
"""Tasks where several mid-size models beat one larger (PAPER.md §7; math_synthetic is MATH's
calibration)."""
INSIGHT1_ONE_LARGE = ("mmlu", "humaneval")
"""Tasks where a mix with one larger model beats any without."""
TASK_PARAMS = (
    "vote_weight",
    "self_weight",
    "verify_weight",
    "fuser_self",
    "fuser_verify",
    "refine_gain",
    "mislead",
    "garble_rate",
    "overload_cap",
    "drift_cap",
)
CAPS = ("overload_cap", "drift_cap")
MODEL_PARAMS = ("reading_ref", "reading_exp", "drift_ref", "drift_exp")
MODEL_START = {"reading_ref": 1200.0, "reading_exp": 0.5, "drift_ref": 0.025, "drift_exp": 1.0}
"""Starting (prior) values of the shared model-level parameters: the 3B reads about four
MMLU answers before it starts to lose track, and drift falls with size as in the hand-set
profile (0.08 / 0.025 / 0.015 / 0.005 for 1B / 3B / 8B / 70B)."""
TASK_START = {"overload_cap": 0.5, "drift_cap": 0.3, "garble_rate": 1.0}
"""Starting values of the task-level parameters the hand-set profile did not have."""


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


@dataclass(frozen=True)
class Fit:
    """The outcome of a joint fit.

    Attributes:
        model: The shared model-level parameters (``MODEL_PARAMS``).
        tasks: Per task, the fitted ``TASK_PARAMS``.
        loss: Row loss plus prior term at FIT_QUESTIONS.
        rows: Residual rows at REPORT_QUESTIONS (long context, shapes, single models).
    """

    model: Mapping[str, float]
    tasks: Mapping[str, Mapping[str, float]]
    loss: float
    rows: Sequence[Row]


def pool_sizes(pool: str) -> tuple[dict[str, float], str]:
    """Each model's parameter count and the final model's name, from the pool config."""
    cfg = yaml.safe_load((CONF_DIR / "pool" / f"{pool}.yaml").read_text())
    return {m["name"]: float(m["params"]) for m in cfg["models"]}, str(cfg["final_model"])


def evidence_windows(pool: str) -> dict[str, int]:
    """The models' real context windows, from the evidence file."""
    data = yaml.safe_load((EVIDENCE_DIR / f"{pool}.yaml").read_text())
    return {str(m): int(v) for m, v in (data.get("context_windows") or {}).items()}


def evidence_loss(pool: str) -> dict[str, float]:
    """Each model's long-context loss, 1 - multi-needle recall at 128k (later rows win)."""
    data = yaml.safe_load((EVIDENCE_DIR / f"{pool}.yaml").read_text())
    out: dict[str, float] = {}
    for ev in data["evidence"]:
        if "multineedle" in str(ev["id"]) and ev.get("use") == "parameter":
            for model, recall in ev["numbers"].items():
                out.setdefault(str(model), round(1.0 - float(recall) / 100.0, 4))
    return out


def apply(
    pool: str,
    profile: TaskProfile,
    model_values: Mapping[str, float],
    task_values: Mapping[str, float],
) -> TaskProfile:
    """A task's profile with the evidence values and the given fitted values in place."""
    sizes, final = pool_sizes(pool)
    windows, losses = evidence_windows(pool), evidence_loss(pool)
    models = {}
    for name, mp in profile.models.items():
        ratio = sizes[name] / sizes[final]
        reading = model_values["reading_ref"] * ratio ** model_values["reading_exp"]
        models[name] = replace(
            mp,
            context_tokens=windows.get(name, mp.context_tokens),
            long_context_loss=losses.get(name, mp.long_context_loss),
            reading_tokens=round(reading),
            drift=float(model_values["drift_ref"] * ratio ** -model_values["drift_exp"]),
        )
    fields: dict[str, Any] = dict(task_values)
    return replace(profile, models=models, **fields)


def start_values(profile: TaskProfile) -> dict[str, float]:
    """A task's prior: its hand-set values, and TASK_START for fields it did not set."""
    out = {}
    for name in TASK_PARAMS:
        value = getattr(profile, name)
        out[name] = float(TASK_START[name] if value is None else value)
    return out


def _prior_z(name: str, value: float, start: float) -> float:
    if name in CAPS or name.endswith("_exp"):
        return (value - start) / 0.25
    return float(np.log(value / start) / np.log(2.0))


def _candidates(name: str, value: float, step: float) -> list[float]:
    """Two neighbours of ``value``: ``step`` is 1 on the first passes, halved when stuck."""
    if name in CAPS:
        return sorted({round(min(1.0, max(0.05, value + d * step)), 3) for d in (-0.15, 0.15)})
    if name.endswith("_exp"):
        return sorted({round(max(0.0, value + d * step), 3) for d in (-0.4, 0.4)})
    return [round(value * f**step, 6) for f in (0.6, 1.0 / 0.6)]


def joint_fit(
    pool: str,
    tasks: Sequence[str] = FIT_TASKS,
    n: int = FIT_QUESTIONS,
    passes: int = PASSES,
    emit: Callable[[str], None] = print,
    init: Fit | None = None,
) -> Fit:
    """Coordinate descent on the shared and per-task parameters (see the module docstring).

    ``init`` continues from an earlier fit (the prior stays the hand-set start).
    """
    profiles = load_profiles(pool)
    _, final = pool_sizes(pool)
    model_start = dict(MODEL_START)
    starts = {t: start_values(profiles[t]) for t in tasks}

    def task_loss(task: str, mv: Mapping[str, float], tv: Mapping[str, float], n: int = n) -> float:
        world = SimWorld(task, apply(pool, profiles[task], mv, tv), 0)
        rows = sum(r.loss for r in shape_rows(world, final, n, pool))
        prior = sum(_prior_z(k, tv[k], starts[task][k]) ** 2 for k in TASK_PARAMS)
        return rows + PRIOR_WEIGHT * prior

    def model_prior(mv: Mapping[str, float]) -> float:
        return PRIOR_WEIGHT * sum(_prior_z(k, mv[k], model_start[k]) ** 2 for k in MODEL_PARAMS)

    mv = dict(model_start if init is None else init.model)
    tv = {t: dict(starts[t] if init is None else init.tasks[t]) for t in tasks}
    per_task = {t: task_loss(t, mv, tv[t]) for t in tasks}
    emit(f"   start: loss {sum(per_task.values()) + model_prior(mv):.2f}")
    step = 1.0
    for sweep in range(passes):
        moved = False
        for name in MODEL_PARAMS:
            for value in _candidates(name, mv[name], step):
                trial = {**mv, name: value}
                losses = {t: task_loss(t, trial, tv[t]) for t in tasks}
                if (
                    sum(losses.values()) + model_prior(trial)
                    < sum(per_task.values()) + model_prior(mv) - 1e-9
                ):
                    mv, per_task, moved = trial, losses, True
        for task in tasks:
            for name in TASK_PARAMS:
                for value in _candidates(name, tv[task][name], step):
                    trial_t = {**tv[task], name: value}
                    loss = task_loss(task, mv, trial_t)
                    if loss < per_task[task] - 1e-9:
                        tv[task], per_task[task], moved = trial_t, loss, True
        total = sum(per_task.values()) + model_prior(mv)
        emit(f"   pass {sweep + 1} (step {step}): loss {total:.2f} shared {mv}")
        if not moved:
            if step < 0.5:
                break
            step /= 2
    emit(f"   polish: {', '.join(POLISH)} per task on {POLISH_QUESTIONS} questions")
    for task in tasks:
        tv[task] = _polish(task, lambda t, v: task_loss(t, mv, v, POLISH_QUESTIONS), tv[task])
        per_task[task] = task_loss(task, mv, tv[task])
    total = sum(per_task.values()) + model_prior(mv)
    fitted = apply(pool, profiles[tasks[0]], mv, tv[tasks[0]]).models
    rows = long_context_rows(pool, fitted)
    for task in tasks:
        world = SimWorld(task, apply(pool, profiles[task], mv, tv[task]), 0)
        rows += shape_rows(world, final, REPORT_QUESTIONS, pool) + single_rows(pool, world)
    return Fit(model=mv, tasks=tv, loss=total, rows=rows)


def _polish(
    task: str,
    loss: Callable[[str, Mapping[str, float]], float],
    values: Mapping[str, float],
) -> dict[str, float]:
    """One pass over the decline parameters on POLISH_QUESTIONS questions.

    The descent's 600-question curves are noisy exactly where a fan-in's fall past its peak
    is measured, so the parameters that set that fall get a second look on more questions.
    """
    best = dict(values)
    best_loss = loss(task, best)
    for name in POLISH:
        for value in _candidates(name, best[name], 0.5):
            trial = {**best, name: value}
            trial_loss = loss(task, trial)
            if trial_loss < best_loss - 1e-9:
                best, best_loss = trial, trial_loss
    return best


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


def write_fit(pool: str, fit: Fit) -> None:
    """Record the fitted values, what each was fitted to, the loss and every residual."""
    path = PROFILE_DIR / f"{pool}.yaml"
    text = path.read_text()
    data = yaml.safe_load(text)
    profiles = load_profiles(pool)
    some_task = next(iter(fit.tasks))
    fitted = apply(pool, profiles[some_task], fit.model, fit.tasks[some_task]).models
    for name, mp in fitted.items():
        data["models"][name] = {
            "context_tokens": mp.context_tokens,
            "long_context_loss": mp.long_context_loss,
            "reading_tokens": mp.reading_tokens,
            "drift": round(mp.drift, 5),
        }
    ids = evidence_ids(pool)
    for task, values in fit.tasks.items():
        spec = data["tasks"][task]
        spec.update({k: round(float(v), 4) for k, v in values.items()})
        rows = [r for r in fit.rows if r.task == task]
        spec["fitted"] = {
            "by": "python -m suite.simfit --joint --write (suite.sim.jointfit)",
            "parameters": list(TASK_PARAMS),
            "to": sorted({r.evidence for r in rows if not r.evidence.startswith("single:")}),
            "residuals": {r.what.split(" {")[0]: round(r.residual, 4) for r in rows},
            "outside_band": [f"{r.evidence}: {r.what}" for r in rows if not r.within],
        }
    data["fit"] = {
        "by": "python -m suite.simfit --joint --write (suite.sim.jointfit)",
        "evidence": ids,
        "read_from_evidence": "context_tokens (context_windows), long_context_loss (multi-needle)",
        "shared": {k: round(float(v), 4) for k, v in fit.model.items()},
        "shared_rule": "reading_tokens = reading_ref * (params / params_final) ** reading_exp; "
        "drift = drift_ref * (params / params_final) ** -drift_exp",
        "not_fitted": "input_tokens, output_tokens, difficulty_sd, same_model_corr, "
        "n_distractors, distractor_power, multiple_choice (task structure)",
        "loss": round(fit.loss, 3),
        "prior_weight": PRIOR_WEIGHT,
        "questions": {"fit": FIT_QUESTIONS, "report": REPORT_QUESTIONS},
        "context_residuals": {
            r.what: round(r.residual, 4) for r in fit.rows if r.task == "context"
        },
    }
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    write_atomic(Path(path), header + body)


def run(pool: str, *, write: bool, emit: Callable[[str], None] = print) -> int:
    """Fit jointly, print the residual table and, with ``write``, record the least-loss fit.

    The fit is recorded whatever its residuals (it is the least-loss point the evidence
    allows); rows outside their band are named in the table and in the profile.

    Returns:
        0 when every residual row is within its band, else 1.
    """
    emit(f"== joint fit of {pool} (sim): coordinate descent, {FIT_QUESTIONS} questions per graph")
    fit = joint_fit(pool, emit=emit)
    emit(f"   loss {fit.loss:.2f} (squared shortfalls over tolerances + {PRIOR_WEIGHT} x prior)")
    emit(f"   shared: {fit.model}")
    for task, values in fit.tasks.items():
        emit(f"   {task}: {values}")
    print_rows(fit.rows, emit)
    outside = [r for r in fit.rows if not r.within]
    emit(f"   rows outside their band: {len(outside)} of {len(fit.rows)}")
    if write:
        write_fit(pool, fit)
        emit(f"   written: suite/sim/{pool}.yaml (values, what they were fitted to, residuals)")
    return 0 if not outside else 1
