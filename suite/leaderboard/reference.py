"""Regret on the sim backend: a graph's expected accuracy and the best known graph per cell.

The sim world knows every graph's accuracy over its simulated question population
(:func:`suite.sim.world.expected_accuracy`), so regret = best known accuracy - found graph's.
The best known graph of a (pool, task, budget) cell is the best canonical layout of every
feasible mix (``suite.sim.fit.best_per_mix``'s search, screened on 1,000 questions, the top 5
rescored on 4,000), precomputed into ``sim_reference.json`` beside this module because it
takes minutes at 48 units. Regret counts against that entry only, never against the best graph
of the folder, so the same run has the same regret in every build; the file's version (a digest
of its cells) is printed beside every regret. Entries carry a digest of the world profile and
space they were computed for; a cell without an up-to-date entry has no regret.

``python -m suite.leaderboard.reference --tasks mmlu,math --budgets 6,12,24,48`` recomputes
and rewrites the file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from suite.config import CONF_DIR, build_space
from suite.core.cost import TokenProfile
from suite.core.graph import CollabGraph
from suite.core.io import write_atomic
from suite.core.proc import die_with_parent
from suite.core.resources import package_path
from suite.core.space import GraphSpace
from suite.core.topologies import family
from suite.sim.world import SimWorld, expected_accuracy, load_profiles

REFERENCE_FILE = package_path("suite.leaderboard") / "sim_reference.json"
QUESTIONS = 4000  # simulated questions behind every expected accuracy the leaderboard reports
SCREEN_QUESTIONS = 1000
RESCORE_TOP = 5


def cell_key(pool: str, task: str, units: int, world_seed: int) -> str:
    """Key of one reference entry."""
    return f"{pool}/{task}/u{units}/w{world_seed}"


@cache
def _world(pool: str, task: str, world_seed: int) -> SimWorld:
    return SimWorld(task, load_profiles(pool)[task], world_seed)


@cache
def _space(pool: str, task: str, units: int) -> GraphSpace:
    cfg = yaml.safe_load((CONF_DIR / "pool" / f"{pool}.yaml").read_text(encoding="utf-8"))
    profile = load_profiles(pool)[task]
    tokens = TokenProfile(profile.input_tokens, profile.output_tokens)
    return build_space(cfg, task, tokens, units)


@cache
def world_digest(pool: str, task: str) -> str:
    """Digest of the task's world profile: what a graph's expected accuracy depends on."""
    blob = json.dumps(asdict(load_profiles(pool)[task]), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def profile_digest(pool: str, task: str, units: int) -> str:
    """Digest of what a cell's best graph depends on: the world profile and the space."""
    space = _space(pool, task, units)
    blob = json.dumps(
        [world_digest(pool, task), repr(space.specs), space.cap_flops, units], default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def known(pool: str, task: str) -> bool:
    """True when the sim world has a profile for this pool and task."""
    try:
        return task in load_profiles(pool)
    except Exception:  # no profile file for the pool
        return False


class Oracle:
    """Expected accuracies of graphs on the sim world, memoised in a JSON file between builds.

    Args:
        cache_path: Where computed values persist (None: memory only).
    """

    def __init__(self, cache_path: Path | None = None) -> None:
        self.cache_path = cache_path
        self._values: dict[str, float] = {}
        self._dirty = False
        if cache_path is not None and cache_path.exists():
            try:
                self._values = {
                    str(k): float(v) for k, v in json.loads(cache_path.read_text()).items()
                }
            except (OSError, ValueError, AttributeError):
                self._values = {}
        self._reference = _read_reference()

    def accuracy(self, pool: str, task: str, world_seed: int, graph: Mapping[str, Any]) -> float:
        """A graph's expected accuracy over :data:`QUESTIONS` simulated questions."""
        g = CollabGraph.from_dict(graph)
        key = f"{pool}/{task}/w{world_seed}/{world_digest(pool, task)}/{g.digest}/{QUESTIONS}"
        if key not in self._values:
            self._values[key] = expected_accuracy(_world(pool, task, world_seed), g, QUESTIONS)
            self._dirty = True
        return self._values[key]

    def prefetch(
        self, wanted: Sequence[tuple[str, str, int, Mapping[str, Any]]], workers: int | None = None
    ) -> None:
        """Compute many expected accuracies at once, in forked worker processes."""
        todo: dict[str, tuple[str, str, int, str]] = {}
        for pool, task, world_seed, graph in wanted:
            g = CollabGraph.from_dict(graph)
            key = f"{pool}/{task}/w{world_seed}/{world_digest(pool, task)}/{g.digest}/{QUESTIONS}"
            if key not in self._values:
                todo[key] = (pool, task, world_seed, g.to_json())
        n = min(workers or os.cpu_count() or 1, len(todo))
        if n <= 1:
            results = [_expected(job) for job in todo.values()]
        else:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(
                n, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
            ) as executor:
                results = list(executor.map(_expected, todo.values(), chunksize=8))
        self._values.update(zip(todo, results, strict=True))
        self._dirty = self._dirty or bool(todo)

    def best_known(self, pool: str, task: str, units: int, world_seed: int) -> float | None:
        """The precomputed best canonical graph's accuracy, or None if absent or stale."""
        entry = self._reference.get(cell_key(pool, task, units, world_seed))
        if not entry or entry.get("digest") != profile_digest(pool, task, units):
            return None
        return float(entry["accuracy"])

    def save(self) -> None:
        """Persist new values (best effort: a read-only cache folder only costs time)."""
        if self.cache_path is None or not self._dirty:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.cache_path, json.dumps(self._values, sort_keys=True))
        except Exception:
            pass


def _expected(job: tuple[str, str, int, str]) -> float:
    pool, task, world_seed, graph_json = job
    graph = CollabGraph.from_json(graph_json)
    return expected_accuracy(_world(pool, task, world_seed), graph, QUESTIONS)


@cache
def reference_version() -> str:
    """Version of :data:`REFERENCE_FILE`: a digest of its cells (changes with any entry)."""
    blob = json.dumps(_read_reference(), sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:12]


def _read_reference() -> dict[str, Any]:
    if not REFERENCE_FILE.exists():
        return {}
    data: dict[str, Any] = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))
    return dict(data.get("cells", {}))


def compute(pool: str, task: str, units: int, world_seed: int = 0) -> dict[str, Any]:
    """The best canonical layout of every feasible mix of one cell (minutes at 48 units)."""
    world, space = _world(pool, task, world_seed), _space(pool, task, units)
    scored: list[tuple[float, CollabGraph]] = []
    for mix in space.feasible_mixes():
        models = [m for m, c in zip(space.model_names, mix, strict=True) for _ in range(c)]
        for g in family(models, space.final_model):
            if space.is_feasible(g):
                scored.append((expected_accuracy(world, g, SCREEN_QUESTIONS), g))
    scored.sort(key=lambda t: -t[0])
    top = [(expected_accuracy(world, g, QUESTIONS), g) for _, g in scored[:RESCORE_TOP]]
    acc, best = max(top, key=lambda t: t[0])
    return {
        "accuracy": acc,
        "graph": best.to_dict(),
        "graph_summary": best.describe(),
        "candidates": len(scored),
        "questions": QUESTIONS,
        "digest": profile_digest(pool, task, units),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Recompute reference cells and merge them into :data:`REFERENCE_FILE`."""
    parser = argparse.ArgumentParser(prog="python -m suite.leaderboard.reference")
    parser.add_argument("--pool", default="llama3")
    parser.add_argument("--tasks", default="mmlu,math,humaneval")
    parser.add_argument("--budgets", default="6,12,24,48")
    parser.add_argument("--world-seed", type=int, default=0)
    args = parser.parse_args(argv)
    data: dict[str, Any] = (
        json.loads(REFERENCE_FILE.read_text()) if REFERENCE_FILE.exists() else {"cells": {}}
    )
    for task in args.tasks.split(","):
        for units in (int(u) for u in args.budgets.split(",")):
            entry = compute(args.pool, task, units, args.world_seed)
            data["cells"][cell_key(args.pool, task, units, args.world_seed)] = entry
            data.update(schema=1, questions=QUESTIONS)
            write_atomic(REFERENCE_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")
            print(f"{task} u{units}: {entry['accuracy']:.4f} {entry['graph_summary']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
