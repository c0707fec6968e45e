"""The text every leaderboard table shows, whatever the file format.

Column headers and their meaning, each row's cells, the title and the statement under each
table, and the average-rank table.
"""

from __future__ import annotations

import math

from suite.leaderboard.build import (
    SUITE_VERSION,
    Group,
    Leaderboard,
    RankSummary,
    Row,
    backends,
    describe_backend,
    rank_summary,
)

HEADERS = (
    "rank",
    "searcher",
    "agent",
    "test acc %",
    "95% CI",
    "SE",
    "seeds",
    "regret (pts)",
    "p vs best (seeds)",
    "p McNemar",
    "graph evals",
    "question evals",
    "search tokens",
    "search FLOPs",
    "agent tokens",
    "wall s",
    "found graph FLOPs/q",
    "latency s/q",
)
COLUMNS_EXPLAINED = [
    ("test acc %", "mean over seeds of the found graph's accuracy on the test questions"),
    (
        "95% CI",
        "percentile bootstrap of that mean over seeds (Wilson over questions "
        "for single-model rows)",
    ),
    ("SE", "standard error of the mean over seeds"),
    (
        "regret (pts)",
        "sim only: best known graph's expected accuracy minus the found "
        "graph's, over 4,000 simulated questions (mean over seeds)",
    ),
    (
        "p vs best (seeds)",
        "two-sided paired t-test of per-seed test accuracy against the "
        "row ranked first, over the seeds both ran",
    ),
    (
        "p McNemar",
        "exact McNemar test on per-question correctness against the row ranked "
        "first, pooled over shared seeds and shared test questions",
    ),
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


def fmt_pct(x: float | None) -> str:
    """A proportion as a percentage with one decimal, or a dash."""
    return "–" if x is None else f"{100 * x:.1f}"


def fmt_p(p: float | None) -> str:
    """A p-value, or a dash when there is none."""
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_num(x: float | None) -> str:
    """Counts plainly, large values in scientific notation."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if abs(x) >= 1e5:
        return f"{x:.2e}"
    return f"{x:.0f}" if float(x).is_integer() or abs(x) >= 100 else f"{x:.2f}"


def cells(row: Row) -> list[str]:
    """A row's displayed values, in :data:`HEADERS` order."""
    c = row.cost
    single = row.kind == "single"
    ci = "–" if row.ci is None else f"{fmt_pct(row.ci[0])}–{fmt_pct(row.ci[1])}"
    return [
        "ref" if single else f"{row.rank:g}",
        row.name,
        row.agent,
        fmt_pct(row.mean),
        ci,
        "–" if row.se is None else fmt_pct(row.se),
        "–" if single else str(len(row.seeds)),
        "–" if row.regret is None else f"{100 * row.regret:.1f}",
        "best" if row.is_best else fmt_p(row.p_seeds),
        fmt_p(row.p_mcnemar),
        *(
            "–" if single else fmt_num(c.get(k))
            for k in (
                "graph_evals",
                "question_evals",
                "search_tokens",
                "search_flops",
                "agent_tokens",
                "wall_s",
            )
        ),
        fmt_num(c.get("inference_flops")),
        f"{c['latency_s']:.2f}" if "latency_s" in c else "–",
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
        f"regret against {fmt_pct(group.best_known)}% ({group.best_known_source})"
        if group.best_known is not None
        else group.best_known_source
    )
    return (
        f"Backend: {describe_backend(group)}. Agent: {agents}. Suite version "
        f"{', '.join(group.suite_versions)} (runs), {SUITE_VERSION} (this build). Runs dated "
        f"{dates}; generated {board.generated}. Budget {group.key.budget_units} units. {regret}."
    )


def title(group: Group) -> str:
    """Section title of a group's table."""
    k = group.key
    return f"{k.task} · {k.budget_units} units · {k.backend} · pool {k.pool}"


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
        f"Ranks by mean test accuracy in each (task, budget) cell on {summary.backend} / pool "
        f"{summary.pool} (1 = best, ties averaged); {len(summary.cells)} cells are the blocks "
        f"of a Friedman test: p = {fmt_p(summary.friedman_p)}"
    )
    if summary.friedman_p is None:
        text += " (needs at least 2 cells and 3 searchers)"
    if summary.left_out:
        text += f". Left out (not run in every cell): {', '.join(summary.left_out)}"
    return text + "."
