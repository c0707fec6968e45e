"""The pilot: a task-level study of single models and one random graph per mix (PAPER.md §6).

Measured once per (task, pool, backend, model revisions, budget) on the search split, cached
under ``<cache>/pilot/``, reused by every run and seed, and never charged to a search budget.
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
from suite.core.distribution import GraphDistribution
from suite.core.graph import CollabGraph
from suite.core.io import cache_dir, storage_error, write_atomic
from suite.core.meter import Meter
from suite.engine import loop
from suite.engine.executor import Executor
from suite.engine.session import Session
from suite.search.searcher import feasible_sample

PILOT_QUESTIONS = 100  # PAPER.md §6 suite rule: about as many questions per row as the paper's
PILOT_SEED = 0  # one pilot per key, whatever the run seed: every run reads the same numbers
FORMAT = 1  # bump when the cached layout changes


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
    return {
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
    text = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def path_of(digest: str) -> Path:
    """The cache file of a pilot."""
    return cache_dir() / "pilot" / f"{digest}.json"


def load(digest: str) -> Pilot | None:
    """The cached pilot, or None when there is none (or it is unreadable or of an old format)."""
    path = path_of(digest)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("format") != FORMAT or data.get("digest") != digest:
        return None
    return Pilot.from_dict(data)


def ensure(sess: Session, conf: RunConfig, say: Callable[[str], None]) -> tuple[Pilot, bool]:
    """The run's pilot: read from the cache, or measured now and cached (says so in one line).

    Returns:
        The pilot, and whether it came from the cache.
    """
    key = key_of(conf, sizes(conf))
    digest = digest_of(key)
    found = load(digest)
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


def rows(sess: Session, rng: np.random.Generator) -> list[tuple[str, Any, CollabGraph]]:
    """The pilot's graphs: each affordable single model, then one random graph per mix.

    Singles are the models one call of which fits the budget (the paper's data block also
    lists the 70B, which no mix at budget 12 can hold; the suite does not pay for it).

    A mix's graph is one draw of the numeric prior with that mix, repaired to the cap (edges
    about 0.12), as the official ``RandomOptimizedSwarm`` draws its graphs; the official
    code hard-codes its pilot table, so this is the suite's reading of "random graph".
    """
    space = sess.space
    prior = GraphDistribution(space)
    out: list[tuple[str, Any, CollabGraph]] = []
    for k in space.affordable(space.budget_units):
        name = space.models[k].name
        out.append(("single", name, CollabGraph.single(name)))
    for mix in space.feasible_mixes():
        out.append(("mix", tuple(mix), feasible_sample(prior, rng, mix)[1]))
    return out


def measure(sess: Session, key: Mapping[str, Any], digest: str) -> Pilot:
    """Run every pilot row on the same search questions, on its own meter."""
    rng = np.random.default_rng(PILOT_SEED)
    docs: Sequence[Doc] = sess.task.search_docs
    order = rng.permutation(len(docs))[: int(key["questions"])]
    chosen = [docs[int(i)] for i in order]
    meter = Meter(0)
    executor = Executor(sess.backend, sess.prompts, sess.space.specs, meter, sess.conf.task.name)
    plan = rows(sess, rng)
    # One executor batch per row, as the search loop evaluates one graph per batch (the sim
    # backend's answers depend on the widest call of a batch, so batching rows together would
    # change them).
    singles: dict[str, float] = {}
    mixes = []
    for kind, label, graph in plan:
        accuracy = loop.evaluate(executor, sess.task.score_many, graph, chosen, "pilot").accuracy
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
