"""The simulated world behind the ``sim`` backend: who answers what, as answer ids, vectorised.

Answers are ids: 0 is the gold answer, 1..K are the question's distractors, -1 is unparseable
text. Every draw is a pure function of (world seed, task, doc key, call signature, sample
index), so the same graph on the same question always answers the same way. This is a
surrogate of LLM behaviour for comparing searchers, not a model of any real LLM.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from suite.core.errors import ConfigError
from suite.core.graph import FINAL, CallKind, CollabGraph
from suite.core.resources import package_path

GOLD, GARBLED, PAD = 0, -1, -2
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
PROFILE_DIR = package_path("suite.sim")


KIND_CODE = {CallKind.DIRECT: 1, CallKind.ASSISTANT: 2, CallKind.FUSER: 3, CallKind.FINAL: 4}
"""Stable integer codes of call kinds, hashed into call signatures."""


@dataclass(frozen=True)
class ModelProfile:
    """One model in one task: item-response ability, context window, long-context loss, drift.

    Attributes:
        ability: Item-response ability (fitted to the single-model accuracy).
        context_tokens: The model's real context window; a prompt past it garbles fast.
        drift: The chance, per hop past the first and per (A + B) tokens read, that a node
            overwrites a right answer it was about to give (later agents spoiling correct
            answers); capped per task by ``TaskProfile.drift_cap``.
        long_context_loss: Chance of losing the thread when the prompt fills the window,
            growing linearly with the prompt's share of it (from multi-needle recall at the
            full window, see suite/sim/evidence/).
        reading_tokens: How much text of other answers the model reads before conflicting
            answers start to confuse it (with the task's ``overload_cap``; None: no overload).
    """

    ability: float
    context_tokens: int
    drift: float
    long_context_loss: float = 0.0
    reading_tokens: int | None = None


@dataclass(frozen=True)
class TaskProfile:
    """How one task behaves in the simulated world (hand-set except ``ability``, which is fit).

    Attributes:
        difficulty_sd: Spread of question difficulty, shared by every model: large values make
            errors of different models correlated (knowledge tasks), small values make them
            independent slips (reasoning tasks), where fusing several answers pays off.
        same_model_corr: Share of a model's per-question noise shared by all its calls.
        n_distractors: Wrong answers a question offers.
        distractor_power: Popularity of distractors is ``u ** (1 / power)``; small values let
            one wrong answer dominate, so wrong majorities happen.
        vote_weight, self_weight, verify_weight: How a node with inputs picks among candidate
            answers: support among its inputs, agreement with its own attempt, and a bonus for
            the gold answer scaled by its chance of verifying it.
        fuser_self, fuser_verify: Multipliers on self and verify weights for fusers, which
            review rather than re-solve.
        refine_gain, mislead: How reading its inputs moves a node's own attempt: its latent
            gains ``refine_gain * share_of_right_inputs - mislead * share_of_wrong_inputs``
            (recognising a right answer is easier than being talked out of one).
        garble_rate: How fast the chance of losing the thread grows once the prompt passes
            the model's context window (and, with ``overload_cap``, its reading length).
        models: Per-model profiles.
        drift_cap: The most a node's drift can reach however much it reads (None: uncapped,
            the linear rule of profiles fitted before the cap existed). Published voting
            curves fall by points past their optimum, never to zero.
        overload_cap: The most a node reading many conflicting answers past its reading
            length loses the thread (None: no overload, as before).
        multiple_choice: The answers are the options (gold and distractors), so a node that
            loses the thread or drifts answers like a guess among them (chance, never below);
            on an open-answer task it writes something wrong or unparseable instead.
    """

    input_tokens: int
    output_tokens: int
    difficulty_sd: float
    same_model_corr: float
    n_distractors: int
    distractor_power: float
    vote_weight: float
    self_weight: float
    verify_weight: float
    fuser_self: float
    fuser_verify: float
    refine_gain: float
    mislead: float
    garble_rate: float
    models: Mapping[str, ModelProfile]
    drift_cap: float | None = None
    overload_cap: float | None = None
    multiple_choice: bool = False


def load_profiles(pool: str) -> dict[str, TaskProfile]:
    """Read ``suite/sim/<pool>.yaml`` (hand-set behaviour plus fitted abilities) into profiles.

    Raises:
        ConfigError: if the pool has no simulator profile.
    """
    path = PROFILE_DIR / f"{pool}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise ConfigError(
            f"the sim backend has no profile for pool '{pool}' (known: {known}); "
            "use pool=llama3 or fit one with python -m suite.sim.fit"
        )
    return dict(_read_profiles(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _read_profiles(path: str, mtime_ns: int) -> dict[str, TaskProfile]:
    """Parse a profile file once per content version (the key includes its mtime)."""
    data: dict[str, Any] = yaml.safe_load(Path(path).read_text())
    out = {}
    for task, spec in data["tasks"].items():
        models = {
            name: ModelProfile(
                ability=float(spec["ability"][name]),
                context_tokens=int(m["context_tokens"]),
                drift=float(m["drift"]),
                long_context_loss=float(m.get("long_context_loss", 0.0)),
                reading_tokens=int(m["reading_tokens"]) if "reading_tokens" in m else None,
            )
            for name, m in data["models"].items()
        }
        fields = {k: v for k, v in spec.items() if k not in ("ability", "target", "fitted")}
        out[task] = TaskProfile(models=models, **fields)
    return out


# ---- hashing: a counter-based generator, vectorised --------------------------------------------
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN, _ONE = np.uint64(0x9E3779B97F4A7C15), np.uint64(1)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (array arithmetic wraps silently in numpy)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return np.asarray(x ^ (x >> _S31))


def hash_combine(h: np.ndarray, *values: np.ndarray | int) -> np.ndarray:
    """Fold values into hashes: ``mix(h * golden + value)``, elementwise with broadcasting."""
    out = np.atleast_1d(np.asarray(h, dtype=np.uint64))
    for v in values:
        vv = np.asarray(v).astype(np.int64).astype(np.uint64)
        out = _mix(out * _GOLDEN + vv + _ONE)
    return out


def uniform(h: np.ndarray) -> np.ndarray:
    """Uniform(0, 1) from hashes, never exactly 0 or 1."""
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def normal(h: np.ndarray) -> np.ndarray:
    """Standard normal from hashes (Box-Muller over two derived uniforms)."""
    u1, u2 = uniform(hash_combine(h, 1)), uniform(hash_combine(h, 2))
    return np.asarray(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))


def text_key(text: str) -> int:
    """A stable 63-bit key for a string (doc ids, model and task names)."""
    import hashlib

    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


# ---- the answer model --------------------------------------------------------------------------
@dataclass(frozen=True)
class Calls:
    """A batch of calls to one model, as arrays of equal length n.

    Attributes:
        doc_keys: uint64 key of each call's question.
        kinds: ``KIND_CODE`` of each call's kind.
        inputs: n x k answer ids of the predecessors, padded with ``PAD``.
        sample_index: How many identical earlier calls the same graph made on this question.
        depth: Longest path from a root to the calling node.
    """

    doc_keys: np.ndarray
    kinds: np.ndarray
    inputs: np.ndarray
    sample_index: np.ndarray
    depth: np.ndarray


class SimWorld:
    """Answers batches of calls for one task; owns no state beyond its profile and seed."""

    def __init__(self, task: str, profile: TaskProfile, seed: int) -> None:
        self.task = task
        self.profile = profile
        self.base = hash_combine(np.array([text_key(task)], dtype=np.uint64), seed)

    def _doc(self, doc_keys: np.ndarray, *tags: np.ndarray | int) -> np.ndarray:
        return hash_combine(self.base, doc_keys, *tags)

    def difficulty(self, doc_keys: np.ndarray) -> np.ndarray:
        """Per-question difficulty b_q ~ N(0, difficulty_sd)."""
        return normal(self._doc(doc_keys, 11)) * self.profile.difficulty_sd

    def distractor_weights(self, doc_keys: np.ndarray) -> np.ndarray:
        """N x K popularity of each question's distractors (rows sum to 1)."""
        k = np.arange(self.profile.n_distractors)[None, :]
        w = uniform(self._doc(doc_keys[:, None], 12, k)) ** (1.0 / self.profile.distractor_power)
        return np.asarray(w / w.sum(axis=1, keepdims=True))

    def _pick_distractor(self, cum: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Distractor ids 1..K by popularity (``cum``: cumulative weights, one row per call)."""
        idx = (u[:, None] > cum).sum(axis=1)
        return np.asarray(np.minimum(idx, self.profile.n_distractors - 1) + 1)

    def answer(self, model: str, calls: Calls) -> np.ndarray:
        """Answer ids for a batch of calls to ``model`` (the simulator's whole behaviour).

        Every call first makes its own attempt: correct when ``ability - b_q + noise > 0``,
        where the noise is partly shared by all calls of the model on the question. A call
        with inputs then picks among the candidates (Gumbel-max over vote, self and verify
        scores), may lose the thread past its context tolerance, and may drift with depth.
        """
        p, mp = self.profile, self.profile.models[model]
        keys = calls.doc_keys
        mkey = text_key(model)
        sig = hash_combine(np.full(len(keys), mkey, dtype=np.uint64), calls.kinds)
        for j in range(calls.inputs.shape[1]):  # padding is not an input: batch width is moot
            col = calls.inputs[:, j]
            sig = np.where(col != PAD, hash_combine(sig, col), sig)
        call = hash_combine(self.base, keys, sig, calls.sample_index)
        b = self.difficulty(keys)
        cum = np.cumsum(self.distractor_weights(keys), axis=1)
        shared = normal(self._doc(keys, 13, mkey))
        own_noise = np.sqrt(p.same_model_corr) * shared + np.sqrt(1 - p.same_model_corr) * normal(
            hash_combine(call, 1)
        )
        n_in = (calls.inputs != PAD).sum(axis=1)
        right_in = (calls.inputs == GOLD).sum(axis=1)
        share = right_in / np.maximum(n_in, 1)
        lift = np.where(n_in > 0, p.refine_gain * share - p.mislead * (1.0 - share), 0.0)
        own_right = mp.ability - b + lift + own_noise > 0
        own = np.where(own_right, GOLD, self._pick_distractor(cum, uniform(hash_combine(call, 2))))
        out = own.copy()
        has = n_in > 0
        if has.any():
            out[has] = self._synthesise(mp, calls, has, own, b, call, n_in, cum[has])
        return out

    def _synthesise(
        self,
        mp: ModelProfile,
        calls: Calls,
        has: np.ndarray,
        own: np.ndarray,
        b: np.ndarray,
        call: np.ndarray,
        n_in: np.ndarray,
        cum: np.ndarray,
    ) -> np.ndarray:
        p = self.profile
        keys, inputs, c = calls.doc_keys[has], calls.inputs[has], call[has]
        fuser = calls.kinds[has] == KIND_CODE[CallKind.FUSER]
        n_ids = p.n_distractors + 2  # column j holds answer id j - 1 (garbled, gold, d1..dK)
        counts = np.stack([(inputs == a).sum(axis=1) for a in range(-1, n_ids - 1)], axis=1)
        own_col = own[has] + 1
        self_w = np.where(fuser, p.self_weight * p.fuser_self, p.self_weight)
        verify_w = np.where(fuser, p.verify_weight * p.fuser_verify, p.verify_weight)
        competence = 1.0 / (1.0 + np.exp(-1.7 * (mp.ability - b[has])))
        score = p.vote_weight * counts.astype(float)
        score[np.arange(len(keys)), own_col] += self_w
        present = counts > 0
        present[np.arange(len(keys)), own_col] = True
        present[:, 0] = False  # unparseable inputs are never chosen
        score[:, 1] += verify_w * competence
        gumbel = -np.log(-np.log(uniform(hash_combine(c[:, None], 20 + np.arange(n_ids)[None, :]))))
        pick = np.argmax(np.where(present, score + gumbel, -np.inf), axis=1) - 1
        ctx = p.input_tokens + n_in[has] * p.output_tokens
        over = np.maximum(0.0, ctx - mp.context_tokens) / mp.context_tokens
        within = mp.long_context_loss * np.minimum(ctx, mp.context_tokens) / mp.context_tokens
        lost_p = 1.0 - (1.0 - within) * np.exp(-p.garble_rate * over)
        lost = uniform(hash_combine(c, 3)) < lost_p
        wrong = self._pick_distractor(cum, uniform(hash_combine(c, 4)))
        if p.multiple_choice:
            garbled = self._guess(c, 5)
        else:
            garbled = np.where(uniform(hash_combine(c, 5)) < 0.5, GARBLED, wrong)
        pick = np.where(lost, garbled, pick)
        if p.overload_cap is not None and mp.reading_tokens is not None:
            pick = self._overload(mp, ctx, inputs, c, pick)
        load = ctx / (p.input_tokens + p.output_tokens)  # reading more text, more chances to slip
        hops = np.maximum(0, calls.depth[has] - 1)
        drift = mp.drift * hops * load
        if p.drift_cap is not None:  # saturates: later nodes spoil points, never everything
            drift = p.drift_cap * (1.0 - np.exp(-drift / p.drift_cap))
        drifted = uniform(hash_combine(c, 6)) < drift
        if p.multiple_choice:  # a drifting reader guesses among the options
            return np.asarray(np.where(drifted, self._guess(c, 9), pick))
        return np.asarray(np.where(drifted & (pick == GOLD), wrong, pick))

    def _guess(self, c: np.ndarray, tag: int) -> np.ndarray:
        """A uniform guess among a multiple-choice question's options (0 is the gold one)."""
        n_options = self.profile.n_distractors + 1
        return np.asarray(np.floor(uniform(hash_combine(c, tag)) * n_options).astype(np.int64))

    def _overload(
        self, mp: ModelProfile, ctx: np.ndarray, inputs: np.ndarray, c: np.ndarray, pick: np.ndarray
    ) -> np.ndarray:
        """Past its reading length a node may stop weighing its inputs and copy one at random.

        The chance grows with the text read past ``reading_tokens`` (rate ``garble_rate``) up
        to the task's ``overload_cap``. Copying one input is what a reader that lost track of
        the comparison does; it costs points (more calls can hurt, Chen et al. 2024) but never
        falls below the inputs' own accuracy, so no aggregate goes under chance.
        """
        p = self.profile
        assert p.overload_cap is not None and mp.reading_tokens is not None
        over = np.maximum(0.0, ctx - mp.reading_tokens) / mp.reading_tokens
        chance = p.overload_cap * (1.0 - np.exp(-p.garble_rate * over))
        hit = uniform(hash_combine(c, 7)) < chance
        valid = inputs != PAD
        rank = np.floor(uniform(hash_combine(c, 8)) * valid.sum(axis=1)).astype(np.int64)
        column = np.argmax(np.cumsum(valid, axis=1) > rank[:, None], axis=1)
        copied = inputs[np.arange(len(inputs)), column]
        return np.asarray(np.where(hit, copied, pick))


def run_graph(world: SimWorld, graph: CollabGraph, doc_keys: np.ndarray) -> np.ndarray:
    """Answer ids of ``final`` for every question, at id level (no text, no backend).

    Uses the same call signatures and sample indices as the executor, so it agrees answer for
    answer with a text run of the ``sim`` backend on the same doc keys. Like the executor,
    it runs only the nodes that reach ``final`` (``graph.used()``).
    """
    graph = graph.used()
    n = len(doc_keys)
    answers: dict[str, np.ndarray] = {}
    depth = graph.depths()
    seen: list[tuple[str, int, np.ndarray]] = []
    for layer in graph.layers():
        for i in layer:
            model, kind = graph.node(i).model, KIND_CODE[graph.call_kind(i)]
            preds = graph.preds(i)
            inputs = (
                np.stack([answers[q] for q in preds], axis=1) if preds else np.full((n, 0), PAD)
            )
            idx = np.zeros(n, dtype=np.int64)
            for m2, k2, in2 in seen:
                if m2 == model and k2 == kind and in2.shape == inputs.shape:
                    idx += np.all(in2 == inputs, axis=1)
            seen.append((model, kind, inputs))
            calls = Calls(doc_keys, np.full(n, kind), inputs, idx, np.full(n, depth[i]))
            answers[i] = world.answer(model, calls)
    return answers[FINAL]


def population(n: int, tag: str = "population") -> np.ndarray:
    """Doc keys of ``n`` simulated questions that no real data set uses."""
    return np.array([text_key(f"{tag}-{i}") for i in range(n)], dtype=np.uint64)


def expected_accuracy(world: SimWorld, graph: CollabGraph, n_questions: int = 4000) -> float:
    """Accuracy of a graph over the simulated question population (for regret and fits)."""
    return float(np.mean(run_graph(world, graph, population(n_questions)) == GOLD))
