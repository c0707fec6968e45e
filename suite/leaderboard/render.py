"""Writers of every table file: leaderboard.tex, .csv and .json, and the two pages.

README.md and leaderboard.html come from :mod:`~suite.leaderboard.page`; the LaTeX tables are
tabulate's booktabs; the CSV and the versioned JSON hold every value unformatted.
"""

from __future__ import annotations

import csv
import io
import json
import math
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
from suite.leaderboard.text import (
    MAIN_COLUMNS,
    cells,
    headers,
    statement,
    summaries,
    title,
    view,
)


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
        "budget_view": view(g),
        "extra_question_evals": g.key.extra_question_evals,
        "simulated": g.simulated,
        "backend_description": describe_backend(g),
        "agents": g.agents,
        "suite_versions": g.suite_versions,
        "run_dates": list(g.run_dates),
        "metric": g.metric,
        "best_known_accuracy": g.best_known,
        "best_known_source": g.best_known_source,
        "reference_version": g.reference_version,
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
        "metric": r.metric,
        "scores": r.scores,
        "test_accuracy": r.accuracies,
        "test_accuracy_mean": r.test_mean,
        "mean": r.mean,
        "se": r.se,
        "ci95": list(r.ci) if r.ci else None,
        "ci_kind": r.ci_kind,
        "expected_accuracy_sim": r.expected,
        "regret": r.regret,
        "p_paired_seeds": r.p_seeds,
        "paired_seeds": r.paired_n,
        "cost": r.cost,
        "runs": [rel(run.path) for run in r.runs],
        "note": r.note,
    }


COST_FIELDS = (
    "graph_evals", "question_evals", "search_tokens", "search_flops", "agent_tokens", "wall_s",
    "inference_flops", "latency_s",
)  # fmt: skip
CSV_FIELDS = (
    "task", "backend", "pool", "budget_units", "extra_question_evals", "kind", "name", "agent",
    "rank", "n_seeds",
    "metric", "mean", "ci_low", "ci_high", "ci_kind", "se", "test_accuracy_mean",
    "expected_accuracy_sim", "regret", "reference_version", "p_paired_seeds", *COST_FIELDS,
    "suite_versions", "generated", "note",
)  # fmt: skip
CSV_DIGITS = 10  # significant digits: enough for every value, none of binary float's noise


def csv_number(value: object) -> object:
    """A float at :data:`CSV_DIGITS` significant digits (``0.555``, not ``0.5549999999999999``)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.{CSV_DIGITS}g}")
    return value


def to_csv(board: Leaderboard) -> str:
    """One CSV line per row of every group (floats without binary noise)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for g in board.groups:
        for r in g.rows:
            values = {
                "task": g.key.task,
                "backend": g.key.backend,
                "pool": g.key.pool,
                "budget_units": g.key.budget_units,
                "extra_question_evals": g.key.extra_question_evals,
                "kind": r.kind,
                "name": r.name,
                "agent": r.agent,
                "rank": r.rank,
                "n_seeds": len(r.seeds),
                "metric": r.metric,
                "mean": r.mean,
                "ci_low": r.ci[0] if r.ci else None,
                "ci_high": r.ci[1] if r.ci else None,
                "ci_kind": r.ci_kind,
                "se": r.se,
                "test_accuracy_mean": r.test_mean,
                "expected_accuracy_sim": r.expected,
                "regret": r.regret,
                "reference_version": g.reference_version,
                "p_paired_seeds": r.p_seeds,
                **{k: r.cost.get(k) for k in COST_FIELDS},
                "suite_versions": " ".join(g.suite_versions),
                "generated": board.generated,
                "note": r.note,
            }
            writer.writerow({k: csv_number(v) for k, v in values.items()})
    return buf.getvalue()


# tabulate's latex_booktabs escapes every cell with LATEX_ESCAPE_RULES; the captions get the
# same rules, plus the two typographic characters the suite's own text uses.
TYPOGRAPHY = {"–": "--", "·": r"$\cdot$"}


def tex_escape(text: str) -> str:
    """Escape LaTeX's special characters (tabulate's rules) and the suite's typography."""
    return "".join(TYPOGRAPHY.get(ch) or LATEX_ESCAPE_RULES.get(ch, ch) for ch in text)


def tex_table(group: Group) -> str:
    """A booktabs tabular of the main columns (tabulate escapes the cells)."""
    names = headers(group)
    keep = [i for i, h in enumerate(names) if h in MAIN_COLUMNS]
    # An en dash becomes LaTeX's "--" before tabulate escapes the rest ("$" included).
    body = [[cells(r, group)[i].replace("–", "--") for i in keep] for r in group.rows]
    aligns = ["left"] * 2 + ["right"] * (len(keep) - 2)
    return str(
        tabulate(
            body,
            [names[i] for i in keep],
            tablefmt="latex_booktabs",
            colalign=aligns,
            disable_numparse=True,
        )
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
            tex_table(g),
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
