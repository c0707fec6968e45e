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

from suite.core.io import write_atomic
from suite.sim.invariants import EVIDENCE_DIR
from suite.sim.rows import (
    FIT_QUESTIONS,
    FIT_TASKS,
    REPORT_QUESTIONS,
    Row,
    evidence_ids,
    long_context_rows,
    pool_sizes,
    print_rows,
    shape_rows,
    single_rows,
    vote_curves,
)
from suite.sim.world import PROFILE_DIR, SimWorld, TaskProfile, load_profiles

CAP_GRID = (0.2, 0.35, 0.5, 0.7, 0.85, 1.0)
PRIOR_WEIGHT = 0.25
"""Weight of the prior term: moving a parameter one prior scale costs a quarter of a row
missing its band by one tolerance."""
PASSES = 8
POLISH = ("overload_cap", "garble_rate", "drift_cap")
POLISH_QUESTIONS = 2000
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
