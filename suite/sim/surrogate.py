"""A sim profile fitted to recorded real graph evaluations, and its held-out fidelity.

Owns, in call order after :func:`suite.sim.records.load_records` has read the real
per-question scores: :func:`fit` (the task's abilities and behaviour parameters by a
deterministic coordinate search on the weighted squared error between the sim's expected
accuracy and each graph's measured accuracy), :func:`cross_validate` (k-fold held-out Spearman
rho and MAE over graphs) and :func:`profile_document` (the profile file's contents).
:mod:`suite.app.simfit` is the command around them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from suite.core.errors import DataError
from suite.core.graph import CollabGraph
from suite.sim.records import Record
from suite.sim.world import GOLD, ModelProfile, SimWorld, TaskProfile, population, run_graph

FIT_QUESTIONS = 600
"""Simulated questions per expected accuracy during the fit (common to every candidate)."""


@dataclass(frozen=True)
class Param:
    """One fitted parameter: where it lives in the profile and its allowed range."""

    name: str
    low: float
    high: float


@dataclass(frozen=True)
class FitResult:
    """A fitted task profile and how well it reproduces the records it saw."""

    profile: TaskProfile
    values: Mapping[str, float]
    loss: float
    evaluations: int
    predicted: tuple[float, ...]


# --- the fit ------------------------------------------------------------------------------------

BEHAVIOUR = (
    Param("difficulty_sd", 0.05, 3.0),
    Param("same_model_corr", 0.0, 0.95),
    Param("vote_weight", 0.0, 4.0),
    Param("self_weight", 0.0, 4.0),
    Param("verify_weight", 0.0, 4.0),
    Param("refine_gain", 0.0, 4.0),
    Param("mislead", 0.0, 4.0),
    Param("drift", 0.0, 0.5),
    Param("garble_rate", 0.0, 8.0),
)
"""The behaviour parameters the fit moves; ``drift`` is one value shared by the pool's models."""
ABILITY = (-4.0, 4.0)
READING_LOG2 = (5.0, 12.0)
"""Range of log2 of each model's fitted reading tolerance (``context_tokens``): 32 tokens to the
served window (4,096); the fit starts at 256, just above what a node reading three answers reads."""
READING_START = 256


def params(models: Sequence[str]) -> tuple[Param, ...]:
    """Every fitted parameter: each model's ability and reading tolerance, then the behaviour.

    ``context_tokens`` is fitted here as the tolerance past which a node reading its inputs
    loses the thread (what the tiny models do: a SmolLM2 aggregator of three answers often
    rambles without stating a number), bounded by the served window (4,096 tokens).
    """
    abilities = tuple(Param(f"ability.{m}", *ABILITY) for m in models)
    return abilities + tuple(Param(f"log2_context.{m}", *READING_LOG2) for m in models) + BEHAVIOUR


def apply(base: TaskProfile, values: Mapping[str, float]) -> TaskProfile:
    """``base`` with the fitted ``values`` set (names as in :func:`params`)."""
    models = {}
    for name, mp in base.models.items():
        models[name] = replace(
            mp,
            ability=values.get(f"ability.{name}", mp.ability),
            context_tokens=round(
                2 ** values.get(f"log2_context.{name}", np.log2(mp.context_tokens))
            ),
            drift=values.get("drift", mp.drift),
        )
    task_fields: dict[str, Any] = {
        k: v for k, v in values.items() if k in TaskProfile.__dataclass_fields__
    }
    return replace(base, models=models, **task_fields)


def predict(
    task: str, profile: TaskProfile, graphs: Sequence[CollabGraph], n: int = FIT_QUESTIONS
) -> np.ndarray:
    """The sim's expected accuracy of each graph under ``profile`` (``expected_accuracy``'s)."""
    world = SimWorld(task, profile, 0)
    keys = _population(n)
    return np.array([float(np.mean(run_graph(world, g, keys) == GOLD)) for g in graphs])


@functools.lru_cache(maxsize=4)
def _population(n: int) -> np.ndarray:
    """``world.population(n)``, the questions ``expected_accuracy`` uses, hashed once."""
    keys = population(n)
    keys.setflags(write=False)
    return keys


def _loss(pred: np.ndarray, acc: np.ndarray, weight: np.ndarray) -> float:
    """Question-weighted mean squared error between expected and measured accuracy."""
    return float(np.sum(weight * (pred - acc) ** 2) / np.sum(weight))


def fit(
    task: str,
    base: TaskProfile,
    records: Sequence[Record],
    *,
    max_evaluations: int = 400,
    n_questions: int = FIT_QUESTIONS,
) -> FitResult:
    """Fit abilities and behaviour to the records by coordinate search (deterministic).

    Works in each parameter's range scaled to [0, 1], from ``base``'s values: on each coordinate
    in turn, step up (else down) and keep stepping while the loss falls; halve the step after a
    sweep without a move; stop at a step of 1/64 or ``max_evaluations`` loss evaluations. The
    loss is deterministic (the same simulated questions for every candidate).
    """
    plist = params(list(base.models))
    graphs = [r.graph for r in records]
    acc = np.array([r.accuracy for r in records])
    weight = np.array([r.n for r in records], dtype=float)
    x = np.array([_scaled(p, _current(base, p)) for p in plist])

    def loss_at(z: np.ndarray) -> tuple[float, np.ndarray]:
        prof = apply(base, _values(plist, z))
        pred = predict(task, prof, graphs, n_questions)
        return _loss(pred, acc, weight), pred

    best, pred = loss_at(x)
    evaluations, step = 1, 0.25
    while step >= 1 / 64 and evaluations < max_evaluations:
        moved = False
        for i in range(len(plist)):
            for sign in (1.0, -1.0):
                went = False
                while evaluations < max_evaluations:  # keep going while the direction pays
                    z = x.copy()
                    z[i] = float(np.clip(z[i] + sign * step, 0.0, 1.0))
                    if z[i] == x[i]:
                        break
                    value, p = loss_at(z)
                    evaluations += 1
                    if value >= best - 1e-12:
                        break
                    x, best, pred, went = z, value, p, True
                if went:
                    moved = True
                    break
        if not moved:
            step /= 2
    values = _values(plist, x)
    return FitResult(apply(base, values), values, best, evaluations, tuple(float(v) for v in pred))


def _current(base: TaskProfile, p: Param) -> float:
    if p.name.startswith("ability."):
        return base.models[p.name.removeprefix("ability.")].ability
    if p.name.startswith("log2_context."):
        return float(np.log2(base.models[p.name.removeprefix("log2_context.")].context_tokens))
    if p.name == "drift":
        return float(np.mean([m.drift for m in base.models.values()]))
    return float(getattr(base, p.name))


def _scaled(p: Param, value: float) -> float:
    return float(np.clip((value - p.low) / (p.high - p.low), 0.0, 1.0))


def _values(plist: Sequence[Param], z: np.ndarray) -> dict[str, float]:
    return {
        p.name: round(p.low + float(v) * (p.high - p.low), 4) for p, v in zip(plist, z, strict=True)
    }


# --- held-out fidelity --------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """k-fold held-out agreement between the sim's expected accuracy and measured accuracy.

    Attributes:
        folds: k.
        spearman: Spearman rho over all held-out graphs (each predicted by the fold that
            did not see it).
        mae: Mean absolute error of those predictions (accuracy, 0-1).
        mean_mae: MAE of predicting every held-out graph by its training folds' mean accuracy.
        noise_mae: The MAE a perfect model would still show from binomial sampling of the
            measured accuracies alone (mean of sqrt(2 p (1 - p) / (pi n))).
        predicted: Held-out prediction per record, in record order.
    """

    folds: int
    spearman: float
    mae: float
    mean_mae: float
    noise_mae: float
    predicted: tuple[float, ...]


def cross_validate(
    task: str,
    base: TaskProfile,
    records: Sequence[Record],
    *,
    folds: int = 5,
    seed: int = 0,
    max_evaluations: int = 400,
    n_questions: int = FIT_QUESTIONS,
) -> Validation:
    """Fit on k-1 folds of graphs, predict the k-th; pool the held-out predictions."""
    n = len(records)
    if n < folds:
        raise DataError(f"{n} recorded graph evaluations are too few for {folds}-fold validation")
    order = np.random.default_rng(seed).permutation(n)
    acc = np.array([r.accuracy for r in records])
    pred, mean_pred = np.zeros(n), np.zeros(n)
    for k in range(folds):
        held = order[k::folds]
        train = np.setdiff1d(order, held)
        result = fit(
            task,
            base,
            [records[i] for i in train],
            max_evaluations=max_evaluations,
            n_questions=n_questions,
        )
        pred[held] = predict(task, result.profile, [records[i].graph for i in held], n_questions)
        mean_pred[held] = acc[train].mean()
    sizes = np.array([r.n for r in records], dtype=float)
    noise = float(np.mean(np.sqrt(2 * acc * (1 - acc) / (np.pi * sizes))))
    return Validation(
        folds=folds,
        spearman=spearman(pred, acc),
        mae=float(np.mean(np.abs(pred - acc))),
        mean_mae=float(np.mean(np.abs(mean_pred - acc))),
        noise_mae=noise,
        predicted=tuple(float(p) for p in pred),
    )


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Spearman's rho (Pearson correlation of average ranks); nan when either side is constant."""
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    for value in np.unique(x):  # ties share their average rank
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


# --- the profile file ---------------------------------------------------------------------------


def starting_profile(
    input_tokens: int, output_tokens: int, models: Mapping[str, int]
) -> TaskProfile:
    """Where the fit starts, and the values it does not move (documented in the profile).

    ``models`` maps each model to its served context window (``serve.max_model_len``).
    """
    return TaskProfile(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        difficulty_sd=1.0,
        same_model_corr=0.5,
        n_distractors=FIXED["n_distractors"],
        distractor_power=FIXED["distractor_power"],
        vote_weight=1.0,
        self_weight=1.0,
        verify_weight=1.0,
        fuser_self=FIXED["fuser_self"],
        fuser_verify=FIXED["fuser_verify"],
        refine_gain=1.0,
        mislead=0.5,
        garble_rate=1.5,
        models={m: ModelProfile(0.0, min(READING_START, w), 0.05) for m, w in models.items()},
    )


FIXED: dict[str, Any] = {
    "n_distractors": 10,
    "distractor_power": 1.0,
    "fuser_self": 1.0,
    "fuser_verify": 1.0,
}
FIXED_WHY = (
    "not identifiable from graph accuracies alone (the records keep scores, not the wrong "
    "answers or roles' separate effects): n_distractors 10, distractor_power 1 (uniform), "
    "fusers as assistants (fuser_self = fuser_verify = 1); long_context_loss 0 (every recorded "
    "prompt is far inside the 4,096-token served window); no drift or overload cap"
)


def profile_document(
    pool: str,
    task: str,
    result: FitResult,
    validation: Validation | None,
    records: Sequence[Record],
    data: str,
    command: str,
) -> dict[str, Any]:
    """The profile file (``suite/sim/<pool>.yaml``) as a mapping ``load_profiles`` reads."""
    prof = result.profile
    acc = [r.accuracy for r in records]
    task_spec = {
        k: getattr(prof, k)
        for k in TaskProfile.__dataclass_fields__
        if k not in ("models", "drift_cap", "overload_cap")
    }
    task_spec["ability"] = {m: mp.ability for m, mp in prof.models.items()}
    fitted = sorted(result.values)
    task_spec["fitted"] = {"values": fitted, "to": data}
    residuals = [
        {
            "graph": r.graph.describe(),
            "digest": r.graph.digest,
            "split": r.split,
            "n": r.n,
            "measured": round(a, 4),
            "sim": round(p, 4),
            "residual": round(p - a, 4),
        }
        for r, a, p in zip(records, acc, result.predicted, strict=True)
    ]
    fit_info: dict[str, Any] = {
        "command": command,
        "data": data,
        "graph_evaluations": len(records),
        "question_evaluations": int(sum(r.n for r in records)),
        "loss": "question-weighted mean squared error, sim expected accuracy vs measured",
        "loss_value": round(result.loss, 6),
        "loss_evaluations": result.evaluations,
        "fit_questions": FIT_QUESTIONS,
        "fixed": FIXED_WHY,
    }
    if validation is not None:
        fit_info["held_out"] = {
            "folds": validation.folds,
            "spearman_rho": round(validation.spearman, 4),
            "mae": round(validation.mae, 4),
            "mae_of_training_mean": round(validation.mean_mae, 4),
            "mae_from_sampling_noise": round(validation.noise_mae, 4),
        }
    fit_info["residuals"] = residuals
    return {
        "pool": pool,
        "fit": fit_info,
        "models": {
            m: {"context_tokens": mp.context_tokens, "drift": mp.drift}
            for m, mp in prof.models.items()
        },
        "tasks": {task: task_spec},
    }
