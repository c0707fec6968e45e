"""Writers of every table file: leaderboard.tex, .csv and .json, and the two pages.

README.md and leaderboard.html come from :mod:`~suite.leaderboard.page`; the LaTeX tables are
tabulate's booktabs; the CSV and the versioned JSON hold every value unformatted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tabulate import LATEX_ESCAPE_RULES, tabulate

from suite.core.io import write_atomic
from suite.leaderboard import page
from suite.leaderboard.build import (
    SCHEMA,
    SCHEMA_VERSION,
    SUITE_VERSION,
    Group,
    Leaderboard,
    Row,
    describe_backend,
)
from suite.leaderboard.text import HEADERS, cells, statement, summaries, title


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


# tabulate's latex_booktabs escapes every cell with LATEX_ESCAPE_RULES; the captions get the
# same rules, plus the two typographic characters the suite's own text uses.
TYPOGRAPHY = {"–": "--", "·": r"$\cdot$"}
TEX_COLUMNS = (0, 1, 3, 4, 6, 7, 8, 9, 10, 16, 17)  # the main columns of HEADERS


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters (tabulate's rules) and the suite's typography."""
    return "".join(TYPOGRAPHY.get(ch) or LATEX_ESCAPE_RULES.get(ch, ch) for ch in text)


def tex_table(rows: Sequence[Row]) -> str:
    """A booktabs tabular of the main columns (tabulate escapes the cells)."""
    headers = [HEADERS[i] for i in TEX_COLUMNS]
    # An en dash becomes LaTeX's "--" before tabulate escapes the rest ("$" included).
    body = [[row[i].replace("–", "--") for i in TEX_COLUMNS] for row in map(cells, rows)]
    aligns = ["left"] * 2 + ["right"] * (len(TEX_COLUMNS) - 2)
    return str(
        tabulate(body, headers, tablefmt="latex_booktabs", colalign=aligns, disable_numparse=True)
    )


def to_tex(board: Leaderboard) -> str:
    """One booktabs table per group (main columns), each captioned with its statement."""
    out = [
        "% Generated by python -m suite.leaderboard; needs \\usepackage{booktabs}.",
        f"% schema {SCHEMA} v{SCHEMA_VERSION}, suite {SUITE_VERSION}, {board.generated}",
    ]
    for g in board.groups:
        out += [
            "\\begin{table}[ht]",
            "\\centering\\small",
            f"\\caption{{{tex_escape(title(g))}. {tex_escape(statement(g, board))}}}",
            tex_table(g.rows),
            "\\end{table}",
            "",
        ]
    return "\n".join(out)


def write_tables(
    board: Leaderboard, out: Path, plots: Sequence[str], about: str = ""
) -> list[Path]:
    """Write README.md, leaderboard.{tex,html,csv,json} into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    content = page.layout(board, plots)
    files = {
        "README.md": page.markdown(content, about),
        "leaderboard.html": page.html_page(content),
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
