"""The text every leaderboard table shows, whatever the file format.

Column headers (the primary metric named in each) and their meaning, each row's cells in one
number format per column, the title and the statement under each table, and the rank table.
"""

from __future__ import annotations

import math

from suite.core import stats
from suite.leaderboard.build import (
    PAIRED_TEST,
    SIM_METRIC,
    SUITE_VERSION,
    Group,
    Leaderboard,
    Row,
    describe_backend,
)
from suite.leaderboard.ranks import RankSummary, backends, rank_summary
from suite.leaderboard.reference import QUESTIONS

SIM_HEADER = "expected acc % (sim)"  # the primary metric's column on sim
TEST_HEADER = "test acc %"
P_HEADER = "p vs best (paired t, seeds)"
COST_HEADERS = (
    "graph evals",
    "question evals",
    "search tokens",
    "search FLOPs",
    "agent tokens",
    "wall s",
    "found graph FLOPs/q",
    "latency s/q",
)
# One number format per column: counts with one decimal (means over seeds), token and FLOP
# counts always in scientific notation, seconds with fixed decimals.
COST_FORMATS = (
    ("graph_evals", "{:.1f}"),
    ("question_evals", "{:.1f}"),
    ("search_tokens", "{:.2e}"),
    ("search_flops", "{:.2e}"),
    ("agent_tokens", "{:.2e}"),
    ("wall_s", "{:.1f}"),
    ("inference_flops", "{:.2e}"),
    ("latency_s", "{:.2f}"),
)
MAIN_COLUMNS = (  # the columns the LaTeX tables keep
    "rank", "searcher", SIM_HEADER, TEST_HEADER, "95% CI", "seeds", "regret (pts)", P_HEADER,
    "graph evals", "found graph FLOPs/q", "latency s/q",
)  # fmt: skip
COLUMNS_EXPLAINED = [
    (
        SIM_HEADER,
        "sim only, the primary metric there (rows are ranked on it): the found graph's "
        f"expected accuracy over {QUESTIONS:,} simulated questions, noise-free; regret is "
        "computed from it (mean over seeds)",
    ),
    (
        TEST_HEADER,
        "mean over seeds of the found graph's accuracy on the run's test questions; the "
        "primary metric on real backends, a finite-sample check beside it on sim",
    ),
    (
        "95% CI",
        "percentile bootstrap over seeds of the primary metric's mean, shown only with at least "
        f"{stats.MIN_SEEDS_FOR_CI} seeds ('n<{stats.MIN_SEEDS_FOR_CI}' below that); Wilson over "
        "questions of the test accuracy for single-model rows",
    ),
    ("SE", "standard error of the primary metric's mean over seeds"),
    (
        "regret (pts)",
        "sim only: the cell's fixed reference (sim_reference.json, version in the table's note) "
        "minus the found graph's expected accuracy (mean over seeds); missing where the "
        "reference has no entry",
    ),
    (P_HEADER, PAIRED_TEST.format(metric="primary metric")),
    ("graph evals, question evals", "search spend per run (mean)"),
    ("search tokens, search FLOPs", "tokens and FLOPs of every graph evaluation in the search"),
    (
        "agent tokens",
        "tokens of the searcher's own agent calls, as the meter counted them "
        "(the heuristic agent reports approximate token counts of its prompts and replies)",
    ),
    ("wall s", "metered wall time of the search and test (sim: seconds of CPU)"),
    (
        "found graph FLOPs/q, latency s/q",
        "inference cost of the found graph per question "
        "(latency from the pool's throughput profile on sim)",
    ),
]


def plural(n: int, noun: str) -> str:
    """``1 node``, ``2 nodes``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def fmt_pct(x: float | None) -> str:
    """A proportion as a percentage with one decimal, or a dash."""
    return "–" if x is None else f"{100 * x:.1f}"


def fmt_p(p: float | None) -> str:
    """A p-value, or a dash when there is none."""
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _fmt(fmt: str, x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return fmt.format(x)


def headers(group: Group) -> list[str]:
    """The column headers of a group's table; the primary metric's column is named for it."""
    sim = group.metric == SIM_METRIC
    return [
        "rank",
        "searcher",
        "agent",
        SIM_HEADER if sim else TEST_HEADER,
        "95% CI",
        "SE",
        "seeds",
        *((TEST_HEADER, "regret (pts)") if sim else ()),
        P_HEADER,
        *COST_HEADERS,
    ]


def cells(row: Row, group: Group) -> list[str]:
    """A row's displayed values, in :func:`headers` order."""
    single = row.kind == "single"
    sim = group.metric == SIM_METRIC
    primary = row.mean if row.metric == group.metric else None
    if row.ci is not None:
        ci = f"{fmt_pct(row.ci[0])}–{fmt_pct(row.ci[1])}"
    else:
        ci = "–" if single else f"n<{stats.MIN_SEEDS_FOR_CI}"
    cost = [
        "–"
        if single and key not in ("inference_flops", "latency_s")
        else _fmt(f, row.cost.get(key))
        for key, f in COST_FORMATS
    ]
    return [
        "ref" if single else f"{row.rank:g}",
        row.name,
        row.agent,
        fmt_pct(primary),
        ci if row.metric == group.metric or single else "–",
        "–" if row.se is None else fmt_pct(row.se),
        "–" if single else str(len(row.seeds)),
        *((fmt_pct(row.test_mean), fmt_pct(row.regret)) if sim else ()),
        "best" if row.is_best else fmt_p(row.p_seeds),
        *cost,
    ]


def statement(group: Group, board: Leaderboard) -> str:
    """The line under every table: backend, agents, suite version, dates, regret's reference."""
    agents = ", ".join(group.agents) or "none (no searcher in this table called an agent)"
    if "heuristic" in group.agents:
        agents += " (rule-based stand-in, not an LLM: [heuristic] rows are not the paper's method)"
    dates = group.run_dates[0] + (
        f" to {group.run_dates[1]}" if group.run_dates[1] != group.run_dates[0] else ""
    )
    regret = (
        f"Regret against the fixed reference {fmt_pct(group.best_known)}% "
        f"(sim_reference.json {group.reference_version}: {group.best_known_source})"
        if group.best_known is not None
        else group.best_known_source[:1].upper() + group.best_known_source[1:]
    )
    return (
        f"{metric_statement(group.metric)} Backend: {describe_backend(group)}. Agent: {agents}. "
        f"Suite version {', '.join(group.suite_versions)} (runs), {SUITE_VERSION} (this build). "
        f"Runs dated {dates}; generated {board.generated}. Budget {group.key.budget_units} "
        f"units, {view(group)}. {regret}.{pilot_note(group)}"
    )


def metric_statement(metric: str) -> str:
    """What a table ranks on, how rows are compared and when a CI is shown."""
    if metric == SIM_METRIC:
        what = (
            f"Metric: {SIM_METRIC} of the found graph over {QUESTIONS:,} simulated questions "
            "(noise-free; test accuracy on the run's test questions beside it)"
        )
    else:
        what = "Metric: test accuracy of the found graph on the run's test questions"
    return (
        f"{what}; rows are ranked on it. p vs best: {PAIRED_TEST.format(metric=metric)}. "
        f"95% CI: bootstrap over seeds, shown from {stats.MIN_SEEDS_FOR_CI} seeds."
    )


def title(group: Group) -> str:
    """Section title of a group's table."""
    k = group.key
    return f"{k.task} · {k.budget_units} units · {k.backend} · pool {k.pool} · {view(group)}"


def view(group: Group) -> str:
    """Which budget view a table is (PAPER.md §6; the README's "two views of the budget")."""
    extra = group.key.extra_question_evals
    return f"equal total budget (+{extra} question evals)" if extra else "equal search budget"


def pilot_note(group: Group) -> str:
    """The pilot's prior cost, shown beside the table and never in the search budget."""
    costs = sorted({r.pilot_question_evals for row in group.rows for r in row.runs} - {0})
    if not costs:
        return ""
    shown = ", ".join(f"{c:,}" for c in costs)
    return (
        f" The pilot (single models and one random graph per mix, measured once per task) cost "
        f"{shown} question evaluations: a prior cost, not part of any row's search budget."
    )


def summaries(board: Leaderboard) -> list[RankSummary]:
    """Rank summaries of every backend and pool."""
    return [rank_summary(board, b, p) for b, p in backends(board)]


def rank_rows(summary: RankSummary) -> tuple[list[str], list[list[str]]]:
    """Headers (searchers by average rank) and rows (one per cell, then the average rank)."""
    order = sorted(summary.searchers, key=lambda s: (summary.mean_ranks[s], s))
    cols = [summary.searchers.index(s) for s in order]
    rows = [
        [cell, *(f"{summary.ranks[i, j]:g}" for j in cols)] for i, cell in enumerate(summary.cells)
    ]
    rows.append(["average rank", *(f"{summary.mean_ranks[s]:.2f}" for s in order)])
    return ["cell (task, budget)", *order], rows


def rank_note(summary: RankSummary) -> str:
    """What the rank table compares and the Friedman test's verdict."""
    text = (
        f"Ranks by mean {summary.metric} over seeds in each (task, budget) cell on "
        f"{summary.backend} / pool {summary.pool} (1 = best, ties averaged); the cells are the "
        f"independent blocks of a Friedman test over {plural(len(summary.cells), 'cell')} "
        f"(p = {fmt_p(summary.friedman_p)}), with the Nemenyi post-hoc test in the "
        "critical-difference plot"
    )
    if summary.friedman_p is None:
        text += " (needs at least 2 cells and 3 searchers)"
    if summary.left_out:
        text += f". Left out (not run in every cell): {', '.join(summary.left_out)}"
    return text + "."
