"""The pilot: a task-level study of single models and one random graph per mix (PAPER.md §6).

Measured once per (task, pool, backend, model revisions, budget, pilot procedure, and for
``sim`` the simulated world) on the search split, cached under ``<cache>/pilot/``, reused by
every run and seed, and never charged to a search budget.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.backends.base import Doc
from suite.config import RunConfig
from suite.core.io import cache_dir, storage_error, write_atomic
from suite.core.meter import Meter
from suite.engine import loop
from suite.engine.executor import Executor
from suite.engine.session import Session
from suite.search.pilot_plan import pilot_rows
from suite.sim import identity

PILOT_QUESTIONS = 100  # PAPER.md §6 suite rule: about as many questions per row as the paper's
PILOT_SEED = 0  # one pilot per key, whatever the run seed: every run reads the same numbers
FORMAT = 1  # bump when the cached layout changes
PILOT_VERSION = 2
"""The pilot procedure's version, part of every pilot key. Bump it in the same commit as any
change to what a pilot measures or how: the rows of :func:`suite.search.pilot_plan.pilot_rows`
(and the sampling they use), the question choice, ``PILOT_SEED``, the batching in
:func:`measure`. A cached pilot of another version is then never read (measured anew). The
test ``test_the_pilot_plan_is_pinned_to_its_version`` fails on a change of the rows, as a
reminder. 1: before this field existed; 2: the first versioned procedure."""


@dataclass(frozen=True)
class Pilot:
    """One measured pilot.

    Attributes:
        key: The fields it was measured for (task, pool, models and revisions, backend, budget).
        digest: Short digest of ``key``; the cache file's name.
        singles: Search accuracy of each affordable single model, by name.
        mixes: ``(mix, graph, accuracy)`` for one random graph per candidate mix.
        doc_ids: The search questions every row was measured on (the same for all rows).
        cost: Question evaluations, graph evaluations, calls, tokens and FLOPs it spent.
    """

    key: Mapping[str, Any]
    digest: str
    singles: Mapping[str, float]
    mixes: tuple[tuple[tuple[int, ...], Mapping[str, Any], float], ...]
    doc_ids: tuple[str, ...]
    cost: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The cached JSON body."""
        return {
            "format": FORMAT,
            "digest": self.digest,
            "key": dict(self.key),
            "singles": dict(self.singles),
            "mixes": [{"mix": list(m), "graph": dict(g), "accuracy": a} for m, g, a in self.mixes],
            "doc_ids": list(self.doc_ids),
            "cost": dict(self.cost),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pilot:
        """Read :meth:`as_dict`."""
        mixes = tuple(
            (tuple(int(c) for c in r["mix"]), dict(r["graph"]), float(r["accuracy"]))
            for r in data["mixes"]
        )
        singles = {str(k): float(v) for k, v in data["singles"].items()}
        return cls(
            dict(data["key"]),
            str(data["digest"]),
            singles,
            mixes,
            tuple(data["doc_ids"]),
            dict(data["cost"]),
        )

    def for_searcher(self) -> dict[str, Any]:
        """What a searcher reads: single-model and per-mix accuracies."""
        return {
            "singles": dict(self.singles),
            "mix_accuracy": [[list(m), a] for m, _, a in self.mixes],
        }

    def record(self, cached: bool) -> dict[str, Any]:
        """final.json's ``pilot`` field: digest, size, cost, its rows, and whether it was reused."""
        return {
            "digest": self.digest,
            "cached": cached,
            "questions": len(self.doc_ids),
            "rows": len(self.singles) + len(self.mixes),
            **dict(self.cost),
            **self.for_searcher(),
        }


def sizes(conf: RunConfig) -> int:
    """Questions per pilot row: ``searcher.pilot_questions`` if set, else 100."""
    return int(conf.searcher_options.get("pilot_questions", PILOT_QUESTIONS))


def key_of(conf: RunConfig, n_questions: int) -> dict[str, Any]:
    """The fields a pilot is measured for; equal keys share one cached pilot."""
    models = [
        {
            "name": m.get("name"),
            "hf_id": m.get("hf_id"),
            "revision": (m.get("serve") or {}).get("revision"),
            "weights": (m.get("serve") or {}).get("weights"),
        }
        for m in conf.pool.get("models") or []
    ]
    backend = {k: v for k, v in conf.backend_options.items() if k != "cache"}
    # Real backends: the model revisions name the weights. The sim backend: its world (the
    # profile file and the code that reads it), which a refit changes under the same names.
    world = None
    if conf.backend == "sim":
        world = identity.world_digest(str(backend.get("profile") or conf.pool.get("name")))
    return {
        "pilot_version": PILOT_VERSION,
        "sim_world": world,
        "task": conf.task.name,
        "task_config": {k: v for k, v in vars(conf.task).items() if k != "test_n"},
        "pool": str(conf.pool.get("name")),
        "final_model": conf.pool.get("final_model"),
        "models": models,
        "backend": conf.backend,
        "backend_options": backend,
        "budget_units": conf.budget_units,
        "questions": n_questions,
    }


def digest_of(key: Mapping[str, Any]) -> str:
    """Short digest of a pilot key."""
    return hashlib.sha256(_canonical(key).encode()).hexdigest()[:16]


def path_of(digest: str) -> Path:
    """The cache file of a pilot."""
    return cache_dir() / "pilot" / f"{digest}.json"


def load(key: Mapping[str, Any]) -> Pilot | None:
    """The cached pilot of ``key``, or None (then it is measured anew).

    None when there is no file, it is unreadable or of another format, or its body was
    measured for another key (another pilot version or sim world included).
    """
    digest = digest_of(key)
    try:
        data = json.loads(path_of(digest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    if data.get("digest") != digest or _canonical(data.get("key")) != _canonical(key):
        return None
    try:
        return Pilot.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _canonical(key: Any) -> str:
    """A key as the text its digest is taken of (so a stored key compares as it was hashed)."""
    return json.dumps(key, sort_keys=True, default=str)


def ensure(sess: Session, conf: RunConfig, say: Callable[[str], None]) -> tuple[Pilot, bool]:
    """The run's pilot: read from the cache, or measured now and cached (says so in one line).

    Returns:
        The pilot, and whether it came from the cache.
    """
    key = key_of(conf, sizes(conf))
    digest = digest_of(key)
    found = load(key)
    if found is not None:
        return found, True
    path = path_of(digest)
    say(
        f"pilot: measuring {conf.task.name} / {key['pool']} / {conf.backend} once "
        f"({key['questions']} search questions per row), cached in {path}"
    )
    pilot = measure(sess, key, digest)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(path, exc) from exc
    write_atomic(path, json.dumps(pilot.as_dict(), indent=1))
    return pilot, False


def measure(sess: Session, key: Mapping[str, Any], digest: str) -> Pilot:
    """Run every pilot row on the same search questions, on its own meter."""
    rng = np.random.default_rng(PILOT_SEED)
    docs: Sequence[Doc] = sess.task.search_docs
    order = rng.permutation(len(docs))[: int(key["questions"])]
    chosen = [docs[int(i)] for i in order]
    meter = Meter(0)
    executor = Executor(sess.backend, sess.prompts, sess.space.specs, meter, sess.conf.task.name)
    plan = pilot_rows(sess.space, rng)
    # One executor batch per row, as the search loop evaluates one graph per batch (the sim
    # backend's answers depend on the widest call of a batch, so batching rows together would
    # change them).
    singles: dict[str, float] = {}
    mixes = []
    for kind, label, graph in plan:
        accuracy = loop.evaluate(executor, sess.score_many, graph, chosen, "pilot").accuracy
        if kind == "single":
            singles[str(label)] = accuracy
        else:
            mixes.append((tuple(label), graph.to_dict(), accuracy))
    n_rows = len(plan)
    tally = meter.tally("pilot")
    cost = {
        "question_evals": n_rows * len(chosen),
        "graph_evals": n_rows,
        "calls": tally.calls,
        "prompt_tokens": tally.prompt_tokens,
        "output_tokens": tally.output_tokens,
        "flops": tally.flops,
        "wall_s": round(meter.wall_s(), 3),
    }
    return Pilot(dict(key), digest, singles, tuple(mixes), tuple(d.doc_id for d in chosen), cost)
