"""Leaderboard tables: runs grouped by (task, backend, pool, budget), aggregated over seeds.

Rows are named by final.json's ``searcher_label`` (``agent_reinforce[heuristic]`` says which
agent ran, so a stand-in agent is never shown as the paper's method). For every row: mean test
accuracy with a 95% bootstrap CI and SE over seeds, regret on sim, search cost, the found
graph's inference FLOPs and latency, its rank in the group, and a paired comparison with the
group's best (paired t-test over shared seeds; exact McNemar on per-question correctness
where the test questions are shared). Single-model rows sit beside the searchers.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suite import __version__
from suite.core import stats
from suite.leaderboard.load import Collection, Run, Single
from suite.leaderboard.reference import Oracle, known

SCHEMA = "tts-graph-bench/leaderboard"
SCHEMA_VERSION = 1


@dataclass(frozen=True, order=True)
class GroupKey:
    """One comparison: the same task, backend, model pool and inference budget."""

    task: str
    backend: str
    pool: str
    budget_units: int

    @property
    def slug(self) -> str:
        """File-name-safe id, e.g. ``mmlu-sim-llama3-u12``."""
        return f"{self.task}-{self.backend}-{self.pool}-u{self.budget_units}"


@dataclass
class Row:
    """One leaderboard line: a searcher aggregated over seeds, or a single-model reference."""

    group: GroupKey
    kind: str  # "searcher" | "single"
    name: str
    agent: str  # the agent a searcher called ("-" for searchers without one)
    seeds: list[int]
    accuracies: list[float]
    mean: float
    se: float | None
    ci: tuple[float, float] | None
    ci_kind: str  # "bootstrap over seeds" | "Wilson over questions"
    cost: dict[str, float] = field(default_factory=dict)
    regret: float | None = None
    expected: float | None = None
    rank: float | None = None
    p_seeds: float | None = None
    p_mcnemar: float | None = None
    discordant: tuple[int, int] | None = None
    paired_n: int = 0
    is_best: bool = False  # the row every other row of its table is compared with
    runs: list[Run] = field(default_factory=list, repr=False)
    note: str = ""


@dataclass
class Group:
    """A comparison table and what it states about itself."""

    key: GroupKey
    rows: list[Row]
    simulated: bool
    agents: list[str]
    suite_versions: list[str]
    run_dates: tuple[str, str]
    best_known: float | None
    best_known_source: str


@dataclass
class Leaderboard:
    """Everything the writers and plots need."""

    groups: list[Group]
    collection: Collection
    warnings: list[str]
    generated: str
    oracle: Oracle = field(repr=False)

    @property
    def searcher_rows(self) -> list[Row]:
        """Every searcher row of every group."""
        return [r for g in self.groups for r in g.rows if r.kind == "searcher"]


def build(collection: Collection, oracle: Oracle | None = None) -> Leaderboard:
    """Aggregate a loaded results tree into groups of rows with their statistics."""
    oracle = oracle if oracle is not None else Oracle()
    warnings: list[str] = []
    by_group: dict[GroupKey, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for run in collection.runs:
        key = GroupKey(run.task, run.backend, run.pool, run.budget_units)
        by_group[key][run.label].append(run)
    oracle.prefetch(  # every found graph's expected accuracy, computed in parallel up front
        [
            (r.pool, r.task, r.world_seed, r.graph)
            for r in collection.runs
            if r.backend == "sim" and r.world_seed is not None and known(r.pool, r.task)
        ]
    )
    groups = []
    for key in sorted(by_group):
        rows = []
        for label, runs in sorted(by_group[key].items()):
            rows.extend(_searcher_rows(key, label, runs))
        warnings.extend(_seed_warnings(key, rows))
        groups.append(_group(key, rows, collection.singles, oracle))
    oracle.save()
    return Leaderboard(groups, collection, warnings, dt.date.today().isoformat(), oracle)


def _searcher_rows(key: GroupKey, label: str, runs: list[Run]) -> list[Row]:
    """One row per protocol variant of a searcher; variants are named by what differs."""
    variants: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        variants[json.dumps(run.protocol, sort_keys=True, default=str)].append(run)
    common = max(variants, key=lambda v: (len(variants[v]), v))
    rows = []
    for variant, vruns in sorted(variants.items()):
        name = label
        if variant != common:
            name += f" ({_difference(json.loads(variant), json.loads(common))})"
        row = _aggregate(key, name, sorted(vruns, key=lambda r: r.seed))
        if len(row.seeds) == 1:
            row.note = "1 seed: no CI, no paired test"
        rows.append(row)
    return rows


def _seed_warnings(key: GroupKey, rows: list[Row]) -> list[str]:
    """One line per group naming its rows that have a single seed."""
    lonely = [r.name for r in rows if len(r.seeds) == 1]
    if not lonely:
        return []
    return [
        f"{key.slug}: {len(lonely)} row(s) have 1 seed ({', '.join(lonely)}): no CI and no "
        "paired test for them; run more seeds"
    ]


def _difference(variant: dict[str, Any], common: dict[str, Any]) -> str:
    keys = sorted(k for k in {*variant, *common} if variant.get(k) != common.get(k))
    return ", ".join(f"{k}={variant.get(k, '-')}" for k in keys) or "other settings"


def _aggregate(key: GroupKey, name: str, runs: list[Run]) -> Row:
    accs = [r.test_accuracy for r in runs]
    cost = {
        "graph_evals": statistics.mean(r.graph_evals for r in runs),
        "question_evals": statistics.mean(r.question_evals for r in runs),
        "search_tokens": statistics.mean(r.search_tokens for r in runs),
        "search_flops": statistics.mean(r.search_flops for r in runs),
        "agent_tokens": statistics.mean(r.agent_tokens for r in runs),
        "agent_calls": statistics.mean(r.agent_calls for r in runs),
        "wall_s": statistics.mean(r.wall_s for r in runs),
        "inference_flops": statistics.mean(r.cost_flops for r in runs),
        "latency_s": statistics.mean(r.latency_s for r in runs),
    }
    agents = sorted({r.agent for r in runs if r.uses_agent})
    return Row(
        group=key,
        kind="searcher",
        name=name,
        agent=", ".join(agents) or "-",
        seeds=[r.seed for r in runs],
        accuracies=accs,
        mean=statistics.mean(accs),
        se=stats.standard_error(accs) if len(accs) > 1 else None,
        ci=stats.bootstrap_ci(accs),
        ci_kind="bootstrap over seeds",
        cost=cost,
        runs=runs,
    )


def _single_row(key: GroupKey, single: Single) -> Row:
    return Row(
        group=key,
        kind="single",
        name=single.name,
        agent="-",
        seeds=[],
        accuracies=[single.test_accuracy],
        mean=single.test_accuracy,
        se=None,
        ci=single.test_ci95,
        ci_kind="Wilson over questions",
        cost={"inference_flops": single.cost_flops, "latency_s": single.latency_s},
        note=f"single-model reference ({single.test_n} questions), {single.path.name}",
    )


def _group(key: GroupKey, rows: list[Row], singles: list[Single], oracle: Oracle) -> Group:
    runs = [r for row in rows for r in row.runs]
    best_known, source = _regret(key, rows, oracle)
    _rank_and_compare(rows)
    refs = [
        _single_row(key, s)
        for s in sorted(singles, key=lambda s: s.cost_flops)
        if (s.task, s.backend, s.pool) == (key.task, key.backend, key.pool)
    ]
    stamps = sorted(r.stamp for r in runs)
    return Group(
        key=key,
        rows=sorted(rows, key=lambda r: (r.rank or 0.0, r.name)) + refs,
        simulated=all(r.simulated for r in runs),
        agents=sorted({r.agent for r in runs if r.uses_agent}),
        suite_versions=sorted({r.suite_version for r in runs}),
        run_dates=(_date(stamps[0]), _date(stamps[-1])) if stamps else ("", ""),
        best_known=best_known,
        best_known_source=source,
    )


def _date(stamp: str) -> str:
    digits = stamp[:8]
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}" if digits.isdigit() else stamp


def _regret(key: GroupKey, rows: list[Row], oracle: Oracle) -> tuple[float | None, str]:
    """Fill each row's expected accuracy and regret where the sim world knows the answer."""
    runs = [r for row in rows for r in row.runs]
    if key.backend != "sim" or not known(key.pool, key.task):
        return None, "no regret: the backend does not know the best graph"
    seeds = {r.world_seed for r in runs}
    if len(seeds) != 1 or None in seeds:
        return None, "no regret: runs of different sim worlds"
    world_seed = int(next(iter(seeds)))  # type: ignore[arg-type]
    found = {id(r): oracle.accuracy(key.pool, key.task, world_seed, r.graph) for r in runs}
    reference = oracle.best_known(key.pool, key.task, key.budget_units, world_seed)
    best = max([*found.values(), *([reference] if reference is not None else [])])
    if reference is None:
        source = "best graph any run found (no up-to-date reference entry)"
    elif best > reference:
        source = "a graph found by a run (beats the best canonical layout)"
    else:
        source = "best canonical layout of every feasible mix (sim_reference.json)"
    for row in rows:
        values = [found[id(r)] for r in row.runs]
        row.expected = statistics.mean(values)
        row.regret = best - row.expected
    return best, source


def _rank_and_compare(rows: list[Row]) -> None:
    """Rank rows by mean accuracy (1 = best, ties averaged); compare each with the best."""
    if not rows:
        return
    # scipy.stats takes about a second to import; a build with no rows never needs it.
    from scipy.stats import rankdata

    ranks = rankdata([-r.mean for r in rows])
    for row, rank in zip(rows, ranks, strict=True):
        row.rank = float(rank)
    best = min(rows, key=lambda r: (r.rank, r.name))
    best.is_best = True
    for row in rows:
        if row is not best:
            _compare(best, row)


def _compare(best: Row, row: Row) -> None:
    mine = {r.seed: r for r in row.runs}
    shared = [s for s in best.seeds if s in mine]
    row.paired_n = len(shared)
    theirs = {r.seed: r for r in best.runs}
    row.p_seeds = stats.paired_t_p(
        [theirs[s].test_accuracy for s in shared], [mine[s].test_accuracy for s in shared]
    )
    a_all: list[float] = []
    b_all: list[float] = []
    for s in shared:
        a_scores = dict(zip(theirs[s].test_doc_ids, theirs[s].test_scores, strict=False))
        b_scores = dict(zip(mine[s].test_doc_ids, mine[s].test_scores, strict=False))
        docs = [d for d in a_scores if d in b_scores]
        a_all.extend(a_scores[d] for d in docs)
        b_all.extend(b_scores[d] for d in docs)
    if a_all:
        p, only_best, only_row = stats.mcnemar_p(a_all, b_all)
        row.p_mcnemar, row.discordant = p, (only_best, only_row)


def rank_matrix(
    board: Leaderboard, backend: str, pool: str
) -> tuple[list[str], list[str], np.ndarray]:
    """Mean test accuracy of every searcher in every (task, budget) cell of one backend/pool.

    Returns:
        The cell names, the searchers present in every cell (others are left out, so that the
        Friedman test and the critical-difference diagram compare like with like), and a
        (cells x searchers) array.
    """
    cells: dict[str, dict[str, float]] = {}
    for g in board.groups:
        if (g.key.backend, g.key.pool) == (backend, pool):
            name = f"{g.key.task} u{g.key.budget_units}"
            cells[name] = {r.name: r.mean for r in g.rows if r.kind == "searcher"}
    if not cells:
        return [], [], np.zeros((0, 0))
    everywhere: Sequence[str] = sorted(set.intersection(*(set(c) for c in cells.values())))
    table = np.array([[cells[c][s] for s in everywhere] for c in cells], dtype=float)
    return list(cells), list(everywhere), table


def backends(board: Leaderboard) -> list[tuple[str, str]]:
    """The (backend, pool) pairs present, sorted."""
    return sorted({(g.key.backend, g.key.pool) for g in board.groups})


def describe_backend(group: Group) -> str:
    """``sim (simulated LLMs, not real model scores)`` or the real backend and pool."""
    if group.simulated:
        return f"{group.key.backend} (simulated LLMs on the {group.key.pool} pool, not real scores)"
    return f"{group.key.backend} on the real {group.key.pool} pool"


SUITE_VERSION = __version__


@dataclass
class RankSummary:
    """Ranks of the searchers present in every (task, budget) cell of one backend and pool."""

    backend: str
    pool: str
    cells: list[str]
    searchers: list[str]
    ranks: np.ndarray  # (cells x searchers), 1 = best
    mean_ranks: dict[str, float]
    friedman_p: float | None
    nemenyi: Any  # pandas DataFrame of pairwise p-values, or None
    left_out: list[str]  # searchers missing from some cell


def rank_summary(board: Leaderboard, backend: str, pool: str) -> RankSummary:
    """Per-cell ranks, average ranks, Friedman test and Nemenyi post-hoc (cells are blocks)."""
    # scipy.stats stays lazy, as in _rank_and_compare.
    from scipy.stats import rankdata

    cells, searchers, table = rank_matrix(board, backend, pool)
    everyone = sorted(
        {
            r.name
            for g in board.groups
            if (g.key.backend, g.key.pool) == (backend, pool)
            for r in g.rows
            if r.kind == "searcher"
        }
    )
    ranks = np.vstack([rankdata(-row) for row in table]) if table.size else table
    p, mean_ranks, sig = (
        stats.friedman_nemenyi(table, searchers) if table.size else (None, {}, None)
    )
    return RankSummary(
        backend,
        pool,
        cells,
        searchers,
        ranks,
        mean_ranks,
        p,
        sig,
        [s for s in everyone if s not in searchers],
    )
