"""Anytime search curves: what the search had found after each graph evaluation.

For every run, from its trials.jsonl: cumulative search FLOPs, the best search reward so far
and, on sim, the incumbent's expected accuracy (the incumbent is the graph with the best
reward so far; at the last point, the graph the searcher recommended, final.json's, so a curve
ends where its table row stands). Bands need MIN_SEEDS_FOR_CI seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from suite.core import stats
from suite.leaderboard.build import Group, Leaderboard
from suite.leaderboard.figure import colours, legend_below, panels, save, source, title
from suite.leaderboard.load import Run, read_trials

Curves = dict[str, list[dict[str, np.ndarray]]]  # row name -> one curve set per run


def all_curves(board: Leaderboard, workers: int | None = None) -> dict[str, Curves]:
    """Curves of every group (by slug); the sim values they need are computed in parallel first."""
    trials = {id(r): [t for t in read_trials(r) if "reward" in t] for r in _runs(board)}
    wanted: list[tuple[str, str, int, Mapping[str, Any]]] = []
    for g in board.groups:
        for run in (r for row in g.rows for r in row.runs):
            if g.simulated and run.world_seed is not None:
                for _, graph in _incumbents(trials[id(run)]):
                    wanted.append((run.pool, run.task, run.world_seed, graph))
                wanted.append((run.pool, run.task, run.world_seed, run.graph))
    board.oracle.prefetch(wanted, workers)
    return {g.key.slug: _group_curves(board, g, trials) for g in board.groups}


def _runs(board: Leaderboard) -> list[Run]:
    return [r for g in board.groups for row in g.rows for r in row.runs]


def _group_curves(board: Leaderboard, group: Group, trials: dict[int, list[Any]]) -> Curves:
    data: Curves = {}
    for row in group.rows:
        if row.kind == "searcher":
            found = [
                c
                for c in (
                    _run_curves(r, trials[id(r)], board.oracle, group.simulated) for r in row.runs
                )
                if c
            ]
            if found:
                data[row.name] = found
    return data


def _incumbents(trials: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(trial index, graph) each time a better reward appears (single-model pilots skipped)."""
    out, best = [], -1.0
    for i, t in enumerate(trials):
        graph = t.get("graph") or {}
        if float(t["reward"]) > best and graph.get("nodes"):
            best = float(t["reward"])
            out.append((i, graph))
    return out


def _run_curves(
    run: Run, trials: list[dict[str, Any]], oracle: Any, sim: bool
) -> dict[str, np.ndarray] | None:
    """Per trial: cumulative FLOPs, best-so-far reward, the incumbent's expected accuracy.

    The incumbent's last value is the recommended graph's (final.json), which may differ from
    the best-reward graph (a searcher may recommend its distribution's mode, or the last graph).
    """
    if not trials:
        return None
    flops = np.cumsum([float(t.get("cost_flops", 0.0)) for t in trials])
    rewards = np.array([float(t["reward"]) for t in trials])
    out = {"flops": flops, "reward": np.maximum.accumulate(rewards)}
    if sim and run.world_seed is not None:
        values = np.full(len(trials), math.nan)
        for i, graph in _incumbents(trials):
            values[i:] = oracle.accuracy(run.pool, run.task, run.world_seed, graph)
        values[-1] = oracle.accuracy(run.pool, run.task, run.world_seed, run.graph)
        out["incumbent"] = values
    return out


def _sci(value: float, _: Any = None) -> str:
    """``3e13`` rather than matplotlib's ``3×10^13`` (shorter, never overlaps)."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _on_grid(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], grid: np.ndarray) -> np.ndarray:
    """Step functions (value after each x) sampled on a grid; NaN before a run's first point."""
    rows = []
    for x, y in zip(xs, ys, strict=True):
        idx = np.searchsorted(x, grid, side="right") - 1
        vals = np.where(idx >= 0, y[np.clip(idx, 0, len(y) - 1)], np.nan)
        rows.append(vals)
    return np.vstack(rows)


def plot(board: Leaderboard, group: Group, data: Curves, out: Path) -> list[str]:
    """Best-so-far search reward and incumbent accuracy vs graph evaluations and search FLOPs."""
    colour = colours(board)
    if not data:
        return []
    sim = group.simulated and all("incumbent" in c for cs in data.values() for c in cs)
    fig, axes = panels(4 if sim else 2, 5.2, 3.4, max_cols=2)
    metrics = [("reward", "best-so-far search reward (%)")]
    if sim:
        metrics.append(("incumbent", "expected accuracy (%, sim)"))
    for i, (metric, ylabel) in enumerate(metrics):
        for j, axis in enumerate(("evals", "flops")):
            ax = axes[2 * i + j]
            for name, curves in data.items():
                _band(ax, curves, metric, axis, colour[name], name)
            ax.set_ylabel(ylabel)
            ax.set_xlabel("graph evaluations" if axis == "evals" else "search FLOPs (log scale)")
            if axis == "flops":
                _log_flops(ax)
            ax.grid(alpha=0.3)
    if sim and group.best_known is not None:
        for ax in axes[2:]:
            ax.axhline(
                100 * group.best_known,
                color="black",
                lw=0.8,
                ls=":",
                label=f"reference graph (sim_reference.json {group.reference_version})",
            )
    legend_below(fig, axes)
    title(fig, _title(group, data, sim))
    return save(fig, out, f"anytime_{group.key.slug}")


def _title(group: Group, data: Curves, sim: bool) -> str:
    """What the curves show, whether bands are drawn, and the bottom row's meaning on sim."""
    k = group.key
    seeds = min(len(cs) for cs in data.values())
    bands = (
        "95% t-interval bands"
        if seeds >= stats.MIN_SEEDS_FOR_CI
        else f"no bands (n<{stats.MIN_SEEDS_FOR_CI} seeds)"
    )
    text = (
        f"Anytime search curves: {k.task}, {k.budget_units} units ({source([group])}); mean "
        f"over seeds, {bands}.\nTop: best reward so far (accuracy on the 1-10 search questions "
        "of one evaluation: noisy)."
    )
    if sim:
        text += (
            "\nBottom: expected accuracy (sim, 4,000 questions) of the graph with the best "
            "reward so far; last point: the recommended graph."
        )
    return text


def _log_flops(ax: Any) -> None:
    """Log x axis with ticks at 1 and 3 per decade, labelled ``3e13``."""
    # matplotlib stays a lazy import (about a second to import): see figure.pyplot.
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(_sci))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _band(
    ax: Any, curves: list[dict[str, np.ndarray]], metric: str, axis: str, colour: Any, name: str
) -> None:
    ys = [100 * c[metric] for c in curves]
    if axis == "evals":
        xs = [np.arange(1, len(y) + 1, dtype=float) for y in ys]
        grid = np.arange(1, max(len(y) for y in ys) + 1, dtype=float)
    else:
        xs = [c["flops"] for c in curves]
        lo = min(float(x[0]) for x in xs if len(x))
        hi = max(float(x[-1]) for x in xs if len(x))
        grid = np.geomspace(max(lo, 1.0), max(hi, lo * 1.0001, 1.0), 60)
    values = _on_grid(xs, ys, grid)
    keep = ~np.isnan(values).any(axis=0)  # only where every seed has started
    if not keep.any():
        return
    mean, low, high = stats.t_band(values[:, keep])
    ax.plot(grid[keep], mean, color=colour, lw=1.4, label=name)
    if low is not None and high is not None:  # None below MIN_SEEDS_FOR_CI seeds
        low, high = np.clip(low, 0, 100), np.clip(high, 0, 100)  # accuracies stay in [0, 100]
        ax.fill_between(grid[keep], low, high, color=colour, alpha=0.12, lw=0)
