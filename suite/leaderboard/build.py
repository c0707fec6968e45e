"""Leaderboard tables: runs grouped by (task, backend, pool, budget), aggregated over seeds.

Every table has one primary metric, named in its header: on ``sim`` the found graph's expected
accuracy (noise-free, what regret is computed from), elsewhere test accuracy. Rows are ranked on
it and compared with the best row by a paired t-test over seeds (the independent unit: test
questions repeat in every seed). Regret counts against the versioned ``sim_reference.json`` only.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from suite import __version__
from suite.core import stats
from suite.leaderboard.load import Collection, Run, Single
from suite.leaderboard.reference import Oracle, known, reference_version

SCHEMA = "tts-graph-bench/leaderboard"
SCHEMA_VERSION = 2  # 2: primary metric per table, no pooled McNemar, fixed regret reference
SIM_METRIC = "expected accuracy"  # over QUESTIONS simulated questions: noise-free, sim only
TEST_METRIC = "test accuracy"  # over the run's test questions: what a real backend gives
PAIRED_TEST = (
    "two-sided paired t-test of per-seed {metric} against the row ranked first, over the "
    "seeds both ran (seeds are independent; test questions repeat in every seed, so they are "
    "not treated as independent samples)"
)


@dataclass(frozen=True, order=True)
class GroupKey:
    """One comparison: the same task, backend, model pool and inference budget."""

    task: str
    backend: str
    pool: str
    budget_units: int
    extra_question_evals: int = 0  # 0: equal search budget; > 0: equal total budget (PAPER.md §6)

    @property
    def slug(self) -> str:
        """File-name-safe id, e.g. ``mmlu-sim-llama3-u12`` (``-total<n>`` for the total view)."""
        view = f"-total{self.extra_question_evals}" if self.extra_question_evals else ""
        return f"{self.task}-{self.backend}-{self.pool}-u{self.budget_units}{view}"


@dataclass
class Row:
    """One leaderboard line: a searcher aggregated over seeds, or a single-model reference."""

    group: GroupKey
    kind: str  # "searcher" | "single"
    name: str
    agent: str  # the agent a searcher called ("-" for searchers without one)
    seeds: list[int]
    accuracies: list[float]  # test accuracy per seed
    metric: str  # what ``scores``, ``mean``, ``se`` and ``ci`` measure (SIM_METRIC, TEST_METRIC)
    scores: list[float]  # the primary metric per seed (per row for single-model rows)
    mean: float
    se: float | None
    ci: tuple[float, float] | None
    ci_kind: str  # "bootstrap over seeds" | "Wilson over questions"
    cost: dict[str, float] = field(default_factory=dict)
    regret: float | None = None
    expected: float | None = None
    rank: float | None = None
    p_seeds: float | None = None
    paired_n: int = 0
    is_best: bool = False  # the row every other row of its table is compared with
    runs: list[Run] = field(default_factory=list, repr=False)
    note: str = ""

    @property
    def test_mean(self) -> float:
        """Mean test accuracy over seeds (the single-model row's own test accuracy)."""
        return statistics.mean(self.accuracies)


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
    metric: str = TEST_METRIC  # the primary metric of every searcher row
    reference_version: str | None = None  # sim_reference.json's version behind regret


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
        key = GroupKey(run.task, run.backend, run.pool, run.budget_units, run.extra_question_evals)
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
        elif len(row.seeds) < stats.MIN_SEEDS_FOR_CI:
            row.note = f"n<{stats.MIN_SEEDS_FOR_CI} seeds: no CI"
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
        metric=TEST_METRIC,
        scores=accs,
        mean=statistics.mean(accs),
        se=stats.standard_error(accs) if len(accs) > 1 else None,
        ci=stats.bootstrap_ci(accs),
        ci_kind="bootstrap over seeds",
        cost=cost,
        runs=runs,
    )


def _use_metric(row: Row, metric: str, scores: list[float]) -> None:
    """Make ``scores`` (one per seed) the row's primary metric: mean, SE, CI."""
    row.metric, row.scores = metric, scores
    row.mean = statistics.mean(scores)
    row.se = stats.standard_error(scores) if len(scores) > 1 else None
    row.ci = stats.bootstrap_ci(scores)


def _single_row(key: GroupKey, single: Single) -> Row:
    return Row(
        group=key,
        kind="single",
        name=single.name,
        agent="-",
        seeds=[],
        accuracies=[single.test_accuracy],
        metric=TEST_METRIC,
        scores=[single.test_accuracy],
        mean=single.test_accuracy,
        se=None,
        ci=single.test_ci95,
        ci_kind="Wilson over questions",
        cost={"inference_flops": single.cost_flops, "latency_s": single.latency_s},
        note=f"single-model reference ({single.test_n} questions), {single.path.name}",
    )


def _group(key: GroupKey, rows: list[Row], singles: list[Single], oracle: Oracle) -> Group:
    runs = [r for row in rows for r in row.runs]
    world_seed, why_not = _sim_world(key, runs)
    metric = SIM_METRIC if world_seed is not None else TEST_METRIC
    mine = [
        s
        for s in sorted(singles, key=lambda s: s.cost_flops)
        if (s.task, s.backend, s.pool) == (key.task, key.backend, key.pool)
    ]
    refs = [_single_row(key, s) for s in mine]
    best_known, source = None, why_not
    if world_seed is not None:
        _expected(key, rows, list(zip(mine, refs, strict=True)), oracle, world_seed)
        best_known, source = _regret(key, rows, oracle, world_seed)
    _rank_and_compare(rows)
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
        metric=metric,
        reference_version=reference_version() if best_known is not None else None,
    )


def _date(stamp: str) -> str:
    digits = stamp[:8]
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}" if digits.isdigit() else stamp


def _sim_world(key: GroupKey, runs: list[Run]) -> tuple[int | None, str]:
    """The one sim world every run of the group faced, or None and why there is none."""
    if key.backend != "sim" or not known(key.pool, key.task):
        return None, "no regret: the backend does not know the best graph"
    seeds = {r.world_seed for r in runs}
    if len(seeds) != 1 or None in seeds:
        return None, "no regret: runs of different sim worlds"
    return int(next(iter(seeds))), ""  # type: ignore[arg-type]


def _expected(
    key: GroupKey,
    rows: list[Row],
    refs: list[tuple[Single, Row]],
    oracle: Oracle,
    world_seed: int,
) -> None:
    """Make each row's expected accuracy (noise-free, sim) its primary metric."""
    for row in rows:
        values = [oracle.accuracy(key.pool, key.task, world_seed, r.graph) for r in row.runs]
        row.expected = statistics.mean(values)
        _use_metric(row, SIM_METRIC, values)
    for single, ref in refs:
        if single.world_seed == world_seed:
            value = oracle.accuracy(key.pool, key.task, world_seed, single.graph)
            ref.expected = value
            ref.metric, ref.scores, ref.mean = SIM_METRIC, [value], value


def _regret(
    key: GroupKey, rows: list[Row], oracle: Oracle, world_seed: int
) -> tuple[float | None, str]:
    """Regret of each row against the cell's fixed reference (never the best run found)."""
    reference = oracle.best_known(key.pool, key.task, key.budget_units, world_seed)
    if reference is None:
        return None, (
            "no regret: sim_reference.json has no up-to-date entry for this cell (python -m "
            "suite.leaderboard.reference recomputes it)"
        )
    source = "best canonical layout of every feasible mix (sim_reference.json)"
    for row in rows:
        row.regret = None if row.expected is None else reference - row.expected
    if any(r.regret is not None and r.regret < 0 for r in rows):
        source += "; negative regret: a found graph beats the reference"
    return reference, source


def _rank_and_compare(rows: list[Row]) -> None:
    """Rank rows by their primary metric (1 = best, ties averaged); compare each with the best."""
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
    """Paired t-test over the seeds both rows ran, on the primary metric."""
    mine = dict(zip(row.seeds, row.scores, strict=True))
    theirs = dict(zip(best.seeds, best.scores, strict=True))
    shared = [s for s in best.seeds if s in mine]
    row.paired_n = len(shared)
    row.p_seeds = stats.paired_t_p([theirs[s] for s in shared], [mine[s] for s in shared])


def describe_backend(group: Group) -> str:
    """``sim (simulated LLMs, not real model scores)`` or the real backend and pool."""
    if group.simulated:
        return f"{group.key.backend} (simulated LLMs on the {group.key.pool} pool, not real scores)"
    return f"{group.key.backend} on the real {group.key.pool} pool"


SUITE_VERSION = __version__
