"""Leaderboard plots (matplotlib, Agg backend), each written as PNG and SVG.

- accuracy vs inference budget (units), CI bands over seeds, single-model points;
- anytime search curves per (task, budget): best-so-far search reward and, on sim, the
  incumbent graph's expected accuracy, against graph evaluations and search FLOPs;
- accuracy vs latency of every found graph, with the Pareto front;
- a critical-difference diagram per backend and pool (Friedman + Nemenyi, scikit-posthocs);
- the found graphs drawn (:mod:`suite.leaderboard.drawgraph`).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from suite.config import CONF_DIR
from suite.core import stats
from suite.core.proc import die_with_parent
from suite.leaderboard import anytime, drawgraph
from suite.leaderboard.build import (
    TEST_METRIC,
    Group,
    Leaderboard,
    Row,
)
from suite.leaderboard.figure import (
    colours,
    legend,
    legend_below,
    panels,
    pyplot,
    save,
    source,
    title,
)
from suite.leaderboard.ranks import backends, rank_summary

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")

Job = Callable[[], list[str]]  # draws one figure; returns the paths it wrote


def write_plots(board: Leaderboard, out: Path, workers: int | None = None) -> list[str]:
    """Every plot of the leaderboard; returns the written paths relative to ``out``.

    Figures are drawn in forked worker processes (one per core by default), after the sim
    oracle has filled in every value the anytime curves need, so workers only draw. Each job
    carries its own arguments (a small pickle), so workers need no shared module state.
    """
    curves = anytime.all_curves(board, workers)
    board.oracle.save()
    jobs: list[Job] = [
        partial(accuracy_vs_budget, board, out),
        partial(accuracy_vs_latency, board, out),
    ]
    jobs += [partial(critical_difference, board, b, p, out) for b, p in backends(board)]
    for g in board.groups:
        jobs += [
            partial(anytime.plot, board, g, curves[g.key.slug], out),
            partial(drawgraph.found_graphs, g, out),
        ]
    n = workers or min(len(jobs), os.cpu_count() or 1)
    if n <= 1:
        results = [job() for job in jobs]
    else:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            n, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            results = list(pool.map(_run, jobs))
    return [name for names in results for name in names]


def _run(job: Job) -> list[str]:
    """A worker's entry point: draw one figure (a module function, so the pool can pickle it)."""
    return job()


def accuracy_vs_budget(board: Leaderboard, out: Path) -> list[str]:
    """Each searcher's primary metric against the budget, single models as points."""
    keys = sorted({(g.key.backend, g.key.pool, g.key.task) for g in board.groups})
    if not keys:
        return []
    colour = colours(board)
    metric = "; ".join(sorted({g.metric for g in board.groups}))
    fig, axes = panels(len(keys), 5.6, 4.2)
    for ax, (backend, pool, task) in zip(axes, keys, strict=True):
        groups = [
            g
            for g in board.groups
            if (g.key.backend, g.key.pool, g.key.task) == (backend, pool, task)
        ]
        budgets = sorted({g.key.budget_units for g in groups})
        for name in sorted({r.name for g in groups for r in g.rows if r.kind == "searcher"}):
            pts = [(g.key.budget_units, r) for g in groups for r in g.rows if r.name == name]
            _budget_line(ax, pts, colour[name], name)
        _best_known_line(ax, groups)
        costs = _single_points(ax, groups[0], budgets)
        ax.set_xscale("log", base=2)
        ticks = sorted({*budgets, *costs})
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("inference budget (units of one smallest-model call)")
        ax.set_ylabel(f"{groups[0].metric} (%)")
        ax.set_title(f"{task}: {backend} / {pool}")
        ax.grid(alpha=0.3)
    legend_below(fig, axes)
    title(
        fig,
        f"Accuracy vs inference budget: mean over seeds of each table's metric ({metric}); 95% "
        f"bootstrap CI bands from {stats.MIN_SEEDS_FOR_CI} seeds; single models with "
        f"Wilson CI; dashed: best known graph per budget\n({source(board.groups)})",
    )
    return save(fig, out, "accuracy_vs_budget")


def _best_known_line(ax: Any, groups: Sequence[Group]) -> None:
    """The best known graph per budget (the fixed regret reference, sim only): the headroom."""
    best = sorted({(g.key.budget_units, g.best_known) for g in groups if g.best_known is not None})
    if best:
        ax.plot(
            [u for u, _ in best], [100 * b for _, b in best],
            ls="--", marker="D", ms=3.5, lw=1.2, color="black", zorder=4,
            label="best known graph per budget (regret reference)",
        )  # fmt: skip


def _budget_line(ax: Any, pts: Sequence[tuple[int, Row]], colour: Any, name: str) -> None:
    """One searcher's mean per budget, with its CI band where every point has one."""
    ax.plot(
        [u for u, _ in pts],
        [100 * r.mean for _, r in pts],
        marker="o", ms=3.5, lw=1.4, color=colour, label=name,
    )  # fmt: skip
    band = [(u, r.ci) for u, r in pts if r.ci is not None]
    if len(band) > 1:
        ax.fill_between(
            [u for u, _ in band],
            [100 * ci[0] for _, ci in band],
            [100 * ci[1] for _, ci in band],
            color=colour, alpha=0.12, lw=0,
        )  # fmt: skip


def _single_points(ax: Any, group: Group, budgets: Sequence[int]) -> list[int]:
    """Single-model rows, placed at their own cost in units; returns the costs used."""
    singles = [r for r in group.rows if r.kind == "single" and r.metric == group.metric]
    units = _unit_costs(group.key.pool, group.key.task)
    used = []
    for r in singles:
        model = r.name.removeprefix("single: ")
        if model not in units:
            continue
        # the Wilson interval is of the test accuracy: drawn only when that is the metric
        lo, hi = r.ci if r.ci and r.metric == TEST_METRIC else (r.mean, r.mean)
        x = units[model]
        ax.errorbar(
            [x], [100 * r.mean], yerr=[[100 * (r.mean - lo)], [100 * (hi - r.mean)]],
            fmt="*", color="black", ms=8, capsize=2, lw=0.8, zorder=5,
            label="single model (at its own cost)",
        )  # fmt: skip
        ax.annotate(
            model, (x, 100 * r.mean), xytext=(4, -10), textcoords="offset points", fontsize=7
        )
        used.append(x)
    return used


def _unit_costs(pool: str, task: str) -> dict[str, int]:
    path = CONF_DIR / "pool" / f"{pool}.yaml"
    if not path.exists():
        return {}
    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for m in cfg.get("models", []):
        units = m.get("units", {})
        out[str(m["name"])] = int(units.get(task, units.get("default", 0)))
    return {k: v for k, v in out.items() if v > 0}


def accuracy_vs_latency(board: Leaderboard, out: Path) -> list[str]:
    """Every found graph (one point per run) and single model; the Pareto front per task."""
    keys = sorted({(g.key.backend, g.key.pool, g.key.task) for g in board.groups})
    if not keys:
        return []
    colour = colours(board)
    metric = "; ".join(sorted({g.metric for g in board.groups}))
    fig, axes = panels(len(keys), 5.6, 4.2)
    budgets = sorted({g.key.budget_units for g in board.groups})
    marker = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(budgets)}
    for ax, (backend, pool, task) in zip(axes, keys, strict=True):
        groups = [
            g
            for g in board.groups
            if (g.key.backend, g.key.pool, g.key.task) == (backend, pool, task)
        ]
        lat, acc = _latency_points(ax, groups, colour, marker)
        front = stats.pareto_front(lat, acc)
        fx = [lat[i] for i in front]
        fy = [acc[i] for i in front]
        ax.step(fx, fy, where="post", color="black", lw=1, ls="--", zorder=4)
        _log_seconds(ax)
        ax.set_xlabel("latency per question (s, log scale)")
        ax.set_ylabel(f"{groups[0].metric} (%)")
        ax.set_title(f"{task}: {backend} / {pool}")
        ax.grid(alpha=0.3)
    _latency_legend(fig, colour, marker)
    title(
        fig,
        f"Accuracy vs latency of the found graphs ({metric}; one point per run; dashed: their "
        "Pareto front) and of single models\n"
        f"({source(board.groups)}; sim latency from the pool's throughput profile)",
    )
    return save(fig, out, "accuracy_vs_latency")


def _latency_points(
    ax: Any, groups: Sequence[Group], colour: dict[str, Any], marker: dict[int, str]
) -> tuple[list[float], list[float]]:
    """One point per run and per single model; returns the runs' (latency, metric %) points."""
    lat: list[float] = []
    acc: list[float] = []
    for g in groups:
        for r in (r for r in g.rows if r.kind == "searcher"):
            xs = [run.latency_s for run in r.runs]
            ys = [100 * score for score in r.scores]
            ax.scatter(
                xs, ys, s=14, color=colour[r.name], marker=marker[g.key.budget_units],
                alpha=0.7, lw=0,
            )  # fmt: skip
            lat += xs
            acc += ys
    singles = [r for r in groups[0].rows if r.kind == "single"]
    for r in (r for r in singles if r.metric == groups[0].metric):
        x, y = r.cost["latency_s"], 100 * r.mean
        ax.scatter([x], [y], marker="*", s=70, color="black", zorder=5)
        label = r.name.removeprefix("single: ")
        ax.annotate(label, (x, y), xytext=(4, -9), textcoords="offset points", fontsize=7)
    return lat, acc


def _log_seconds(ax: Any) -> None:
    """Log x axis labelled in plain seconds."""
    # matplotlib stays a lazy import (about a second to import): see figure.pyplot.
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _latency_legend(fig: Any, colour: dict[str, Any], marker: dict[int, str]) -> None:
    # matplotlib stays a lazy import (about a second to import): see figure.pyplot.
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color=c, label=n) for n, c in colour.items()]
    handles += [
        Line2D([], [], ls="", marker=m, color="grey", label=f"budget {b} units")
        for b, m in marker.items()
    ]
    handles += [
        Line2D([], [], ls="", marker="*", color="black", ms=9, label="single model"),
        Line2D([], [], ls="--", color="black", label="Pareto front of the found graphs"),
    ]
    legend(fig, handles, [str(h.get_label()) for h in handles])


def critical_difference(board: Leaderboard, backend: str, pool: str, out: Path) -> list[str]:
    """Critical-difference diagram over (task, budget) cells; skipped below 2 cells or 3 rows."""
    summary = rank_summary(board, backend, pool)
    if summary.friedman_p is None or summary.nemenyi is None:
        return []
    # scikit-posthocs (with pandas) and scipy.stats take seconds to import: only this plot
    # needs them, so ``--no-plots`` builds never pay for them.
    import scikit_posthocs as sp
    from scipy.stats import studentized_range

    k, n = len(summary.searchers), len(summary.cells)
    cd = float(
        studentized_range.ppf(0.95, k, np.inf) / math.sqrt(2) * math.sqrt(k * (k + 1) / (6 * n))
    )
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.5 * k + 2.2))
    fig.subplots_adjust(left=0.22, right=0.78, top=0.8, bottom=0.04)  # room for the labels
    palette = {name: c for name, c in colours(board).items() if name in summary.mean_ranks}
    drawn = sp.critical_difference_diagram(
        summary.mean_ranks, summary.nemenyi, ax=ax, cd=cd, alpha=0.05, color_palette=palette
    )
    _sort_crossbars(drawn["crossbars"])
    ax.set_title(
        f"Average rank (1 = best) over {n} (task, budget) cells, {backend} / {pool}\n"
        f"Friedman p = {summary.friedman_p:.3g}; bars join searchers the Nemenyi test "
        f"(alpha 0.05) cannot tell apart; CD = {cd:.2f}",
        fontsize=9,
        pad=28,  # above the CD bar the library draws over the axis
    )
    return save(fig, out, f"critical_difference_{backend}_{pool}")


def _sort_crossbars(crossbars: list[list[Any]]) -> None:
    """Give each clique's bar its points in rank order, so two builds write the same files.

    scikit-posthocs draws a bar through its clique's members in the iteration order of a
    ``set`` of names, which changes with Python's string hashing from one process to the
    next; the bar is one horizontal line, so sorting its points changes only the file.
    """
    for lines in crossbars:
        for line in lines:
            line.set_xdata(sorted(line.get_xdata()))
