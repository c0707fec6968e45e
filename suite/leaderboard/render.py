"""Writers: README.md (tabulate), leaderboard.tex, leaderboard.html, .csv and .json.

Every table states its backend, agents, suite version and dates. The HTML page is static, its
columns sort with a small inline script, and every string from the results is escaped.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from suite.core.io import write_atomic
from suite.leaderboard.build import (
    SCHEMA,
    SCHEMA_VERSION,
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


def to_json(board: Leaderboard) -> dict[str, Any]:
    """The versioned JSON document (schema ``tts-graph-bench/leaderboard``, version 1)."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "suite_version": SUITE_VERSION,
        "generated": board.generated,
        "results": str(board.collection.root),
        "groups": [_group_json(g, board.collection.rel) for g in board.groups],
        "ranks": [
            {
                "backend": s.backend,
                "pool": s.pool,
                "cells": s.cells,
                "searchers": s.searchers,
                "ranks": s.ranks.tolist(),
                "mean_ranks": s.mean_ranks,
                "friedman_p": s.friedman_p,
                "left_out": s.left_out,
            }
            for s in summaries(board)
        ],
        "excluded": [
            {"path": board.collection.rel(e.path), "status": e.status, "reason": e.reason}
            for e in board.collection.excluded
        ],
        "warnings": board.warnings,
    }


def _group_json(g: Group, rel: Callable[[Path], str]) -> dict[str, Any]:
    return {
        "task": g.key.task,
        "backend": g.key.backend,
        "pool": g.key.pool,
        "budget_units": g.key.budget_units,
        "simulated": g.simulated,
        "backend_description": describe_backend(g),
        "agents": g.agents,
        "suite_versions": g.suite_versions,
        "run_dates": list(g.run_dates),
        "best_known_accuracy": g.best_known,
        "best_known_source": g.best_known_source,
        "rows": [_row_json(r, rel) for r in g.rows],
    }


def _row_json(r: Row, rel: Callable[[Path], str]) -> dict[str, Any]:
    return {
        "kind": r.kind,
        "name": r.name,
        "agent": r.agent,
        "rank": r.rank,
        "n_seeds": len(r.seeds),
        "seeds": r.seeds,
        "test_accuracy": r.accuracies,
        "mean": r.mean,
        "se": r.se,
        "ci95": list(r.ci) if r.ci else None,
        "ci_kind": r.ci_kind,
        "expected_accuracy_sim": r.expected,
        "regret": r.regret,
        "p_paired_seeds": r.p_seeds,
        "p_mcnemar": r.p_mcnemar,
        "discordant_best_only_row_only": list(r.discordant) if r.discordant else None,
        "paired_seeds": r.paired_n,
        "cost": r.cost,
        "runs": [rel(run.path) for run in r.runs],
        "note": r.note,
    }


CSV_FIELDS = (
    "task", "backend", "pool", "budget_units", "kind", "name", "agent", "rank", "n_seeds",
    "mean", "ci_low", "ci_high", "ci_kind", "se", "expected_accuracy_sim", "regret",
    "p_paired_seeds", "p_mcnemar", "graph_evals", "question_evals", "search_tokens",
    "search_flops", "agent_tokens", "wall_s", "inference_flops", "latency_s",
    "suite_versions", "generated", "note",
)  # fmt: skip


def to_csv(board: Leaderboard) -> str:
    """One CSV line per row of every group (numbers unformatted)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for g in board.groups:
        for r in g.rows:
            writer.writerow(
                {
                    "task": g.key.task,
                    "backend": g.key.backend,
                    "pool": g.key.pool,
                    "budget_units": g.key.budget_units,
                    "kind": r.kind,
                    "name": r.name,
                    "agent": r.agent,
                    "rank": r.rank,
                    "n_seeds": len(r.seeds),
                    "mean": r.mean,
                    "ci_low": r.ci[0] if r.ci else None,
                    "ci_high": r.ci[1] if r.ci else None,
                    "ci_kind": r.ci_kind,
                    "se": r.se,
                    "expected_accuracy_sim": r.expected,
                    "regret": r.regret,
                    "p_paired_seeds": r.p_seeds,
                    "p_mcnemar": r.p_mcnemar,
                    **{k: r.cost.get(k) for k in CSV_FIELDS[18:26]},
                    "suite_versions": " ".join(g.suite_versions),
                    "generated": board.generated,
                    "note": r.note,
                }
            )
    return buf.getvalue()


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters."""
    table = {
        "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
        "<": r"\textless{}", ">": r"\textgreater{}", "–": "--", "·": r"$\cdot$",
    }  # fmt: skip
    return "".join(table.get(ch, ch) for ch in text)


def to_tex(board: Leaderboard) -> str:
    """One booktabs table per group (main columns), each captioned with its statement."""
    keep = (0, 1, 3, 4, 6, 7, 8, 9, 10, 16, 17)
    out = [
        "% Generated by python -m suite.leaderboard; needs \\usepackage{booktabs}.",
        f"% schema {SCHEMA} v{SCHEMA_VERSION}, suite {SUITE_VERSION}, {board.generated}",
    ]
    for g in board.groups:
        out += [
            "\\begin{table}[ht]",
            "\\centering\\small",
            f"\\caption{{{tex_escape(title(g))}. {tex_escape(statement(g, board))}}}",
            "\\begin{tabular}{" + "l" * 2 + "r" * (len(keep) - 2) + "}",
            "\\toprule",
            " & ".join(tex_escape(HEADERS[i]) for i in keep) + " \\\\",
            "\\midrule",
        ]
        for r in g.rows:
            values = cells(r)
            out.append(" & ".join(tex_escape(values[i]) for i in keep) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out)


def write_tables(
    board: Leaderboard, out: Path, plots: Sequence[str], about: str = ""
) -> list[Path]:
    """Write README.md, leaderboard.{tex,html,csv,json} into ``out``; returns the paths."""
    from suite.leaderboard import page

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "README.md": page.markdown(board, plots, about),
        "leaderboard.html": page.html_page(board, plots),
        "leaderboard.tex": to_tex(board),
        "leaderboard.csv": to_csv(board),
        "leaderboard.json": json.dumps(to_json(board), indent=1, sort_keys=True, default=str)
        + "\n",
    }
    paths = []
    for name, text in files.items():
        write_atomic(out / name, text)
        paths.append(out / name)
    return paths


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table (pipes in values escaped)."""
    safe = [[str(v).replace("|", "\\|") for v in row] for row in rows]
    return str(tabulate(safe, headers=list(headers), tablefmt="github", disable_numparse=True))


def esc(text: object) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape(str(text), quote=True)
