"""Ranks across cells: each searcher's rank per (task, budget) cell, Friedman and Nemenyi.

Cells are the independent blocks (seeds are averaged within a cell first); a searcher missing
from some cell is left out of the test and named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.core import stats
from suite.leaderboard.build import TEST_METRIC, Leaderboard


def backends(board: Leaderboard) -> list[tuple[str, str]]:
    """The (backend, pool) pairs present, sorted."""
    return sorted({(g.key.backend, g.key.pool) for g in board.groups})


def rank_matrix(
    board: Leaderboard, backend: str, pool: str
) -> tuple[list[str], list[str], np.ndarray]:
    """Mean primary metric of every searcher in every (task, budget) cell of one backend/pool.

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
    metric: str = TEST_METRIC  # what was ranked in each cell ("a; b" when cells differ)


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
    metrics = sorted(
        {g.metric for g in board.groups if (g.key.backend, g.key.pool) == (backend, pool)}
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
        "; ".join(metrics) or TEST_METRIC,
    )
