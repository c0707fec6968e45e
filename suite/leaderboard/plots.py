"""Leaderboard plots (matplotlib, Agg backend), each written as PNG and SVG.

- accuracy vs inference budget (units), CI bands over seeds, single-model points;
- anytime search curves per (task, budget): best-so-far search reward and, on sim, the
  incumbent graph's expected accuracy, against graph evaluations and search FLOPs;
- accuracy vs latency of every found graph, with the Pareto front;
- a critical-difference diagram per backend and pool (Friedman + Nemenyi, scikit-posthocs);
- the found graphs drawn (:mod:`suite.leaderboard.drawgraph`).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from suite.core import stats
from suite.core.io import write_atomic
from suite.leaderboard.build import Group, Leaderboard, Row, backends, rank_summary
from suite.leaderboard.load import Run

PLOT_DIR = "plots"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.titlesize": 10,
            "svg.hashsalt": "tts-graph-bench",
            "svg.fonttype": "none",  # text stays text: smaller files, much faster to write
        }
    )
    return plt


def save(fig: Any, out: Path, stem: str) -> list[str]:
    """Write ``<out>/plots/<stem>.png`` and ``.svg``; returns their paths relative to ``out``."""
    plt = _plt()
    (out / PLOT_DIR).mkdir(parents=True, exist_ok=True)
    names = []
    for ext in ("png", "svg"):
        name = f"{PLOT_DIR}/{stem}.{ext}"
        if ext == "png":
            _save_png(fig, out / name)
        else:
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
            write_atomic(out / name, buf.getvalue())
        names.append(name)
    plt.close(fig)
    return names


def _save_png(fig: Any, path: Path) -> None:
    """A 256-colour PNG: a third of the size of matplotlib's RGBA file, same look for plots."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    packed = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(packed, "PNG", optimize=True)
    write_atomic(path, packed.getvalue())


def colours(board: Leaderboard) -> dict[str, Any]:
    """One colour per searcher row name, stable across every plot."""
    plt = _plt()
    names = sorted({r.name for r in board.searcher_rows})
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def write_plots(board: Leaderboard, out: Path, workers: int | None = None) -> list[str]:
    """Every plot of the leaderboard; returns the written paths relative to ``out``.

    Figures are drawn in forked worker processes (one per core by default), after the sim
    oracle has filled in every value the anytime curves need, so workers only draw.
    """
    from suite.leaderboard import anytime

    curves = anytime.all_curves(board, workers)
    board.oracle.save()
    jobs: list[tuple[str, Any]] = [("budget", None), ("latency", None)]
    jobs += [("cd", bp) for bp in backends(board)]
    jobs += [(kind, g.key.slug) for g in board.groups for kind in ("anytime", "graphs")]
    global _JOB_STATE
    _JOB_STATE = (board, out, curves)
    n = workers or min(len(jobs), os.cpu_count() or 1)
    if n <= 1:
        results = [_draw(job) for job in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(n, mp_context=ctx) as pool:
            results = list(pool.map(_draw, jobs))
    return [name for names in results for name in names]


_JOB_STATE: Any = None  # (board, out, curves), inherited by forked workers


def _draw(job: tuple[str, Any]) -> list[str]:
    from suite.leaderboard import anytime, drawgraph

    board, out, curves = _JOB_STATE
    kind, arg = job
    if kind == "budget":
        return accuracy_vs_budget(board, out)
    if kind == "latency":
        return accuracy_vs_latency(board, out)
    if kind == "cd":
        return critical_difference(board, arg[0], arg[1], out)
    group = next(g for g in board.groups if g.key.slug == arg)
    if kind == "anytime":
        return anytime.plot(board, group, curves[arg], out)
    return drawgraph.found_graphs(board, group, out)


def _source(groups: Sequence[Group]) -> str:
    backend = ", ".join(
        sorted({g.key.backend + (" (simulated)" if g.simulated else "") for g in groups})
    )
    agents = ", ".join(sorted({a for g in groups for a in g.agents})) or "none"
    return f"backend {backend}; agent {agents}"


def _panels(
    n: int, width: float = 4.6, height: float = 3.6, max_cols: int = 3
) -> tuple[Any, list[Any]]:
    plt = _plt()
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows + 1.2), squeeze=False, layout="constrained"
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _legend_below(fig: Any, axes: Sequence[Any], ncol: int) -> None:
    """One legend under the figure with every distinct label of every panel."""
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)


def accuracy_vs_budget(board: Leaderboard, out: Path) -> list[str]:
    """Test accuracy of each searcher's found graphs against the budget, single models as points."""
    keys = sorted({(g.key.backend, g.key.pool, g.key.task) for g in board.groups})
    if not keys:
        return []
    colour = colours(board)
    fig, axes = _panels(len(keys), 5.6, 4.2)
    for ax, (backend, pool, task) in zip(axes, keys, strict=True):
        groups = [
            g
            for g in board.groups
            if (g.key.backend, g.key.pool, g.key.task) == (backend, pool, task)
        ]
        budgets = sorted({g.key.budget_units for g in groups})
        for name in sorted({r.name for g in groups for r in g.rows if r.kind == "searcher"}):
            pts = [(g.key.budget_units, r) for g in groups for r in g.rows if r.name == name]
            x = [u for u, _ in pts]
            y = [100 * r.mean for _, r in pts]
            ax.plot(x, y, marker="o", ms=3.5, lw=1.4, color=colour[name], label=name)
            band = [(u, r.ci) for u, r in pts if r.ci is not None]
            if len(band) > 1:
                ax.fill_between(
                    [u for u, _ in band],
                    [100 * ci[0] for _, ci in band],
                    [100 * ci[1] for _, ci in band],
                    color=colour[name],
                    alpha=0.12,
                    lw=0,
                )
        costs = _single_points(ax, groups[0], budgets)
        ax.set_xscale("log", base=2)
        ticks = sorted({*budgets, *costs})
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("inference budget (units of one smallest-model call)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{task}: {backend} / {pool}")
        ax.grid(alpha=0.3)
    _legend_below(fig, axes, ncol=3)
    fig.suptitle(
        "Accuracy vs inference budget: mean over seeds, 95% bootstrap CI bands; "
        f"single models with Wilson CI\n({_source(board.groups)})",
        fontsize=9,
    )
    return save(fig, out, "accuracy_vs_budget")


def _single_points(ax: Any, group: Group, budgets: Sequence[int]) -> list[int]:
    """Single-model rows, placed at their own cost in units; returns the costs used."""
    singles = [r for r in group.rows if r.kind == "single"]
    units = _unit_costs(group.key.pool, group.key.task)
    used = []
    for r in singles:
        model = r.name.removeprefix("single: ")
        if model not in units:
            continue
        lo, hi = r.ci if r.ci else (r.mean, r.mean)
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
    import yaml

    from suite.config import CONF_DIR

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
    fig, axes = _panels(len(keys), 5.6, 4.2)
    budgets = sorted({g.key.budget_units for g in board.groups})
    marker = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(budgets)}
    for ax, (backend, pool, task) in zip(axes, keys, strict=True):
        groups = [
            g
            for g in board.groups
            if (g.key.backend, g.key.pool, g.key.task) == (backend, pool, task)
        ]
        lat: list[float] = []
        acc: list[float] = []
        for g in groups:
            for r in g.rows:
                if r.kind != "searcher":
                    continue
                xs = [run.latency_s for run in r.runs]
                ys = [100 * run.test_accuracy for run in r.runs]
                ax.scatter(
                    xs,
                    ys,
                    s=14,
                    color=colour[r.name],
                    marker=marker[g.key.budget_units],
                    alpha=0.7,
                    lw=0,
                )
                lat += xs
                acc += ys
        for r in (r for r in groups[0].rows if r.kind == "single"):
            x, y = r.cost["latency_s"], 100 * r.mean
            ax.scatter([x], [y], marker="*", s=70, color="black", zorder=5)
            label = r.name.removeprefix("single: ")
            ax.annotate(label, (x, y), xytext=(4, -9), textcoords="offset points", fontsize=7)
        front = stats.pareto_front(lat, acc)
        fx = [lat[i] for i in front]
        fy = [acc[i] for i in front]
        ax.step(fx, fy, where="post", color="black", lw=1, ls="--", zorder=4)
        _log_seconds(ax)
        ax.set_xlabel("latency per question (s, log scale)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{task}: {backend} / {pool}")
        ax.grid(alpha=0.3)
    _latency_legend(fig, colour, marker)
    fig.suptitle(
        "Accuracy vs latency of the found graphs (one point per run; dashed: their Pareto "
        "front) and of single models\n"
        f"({_source(board.groups)}; sim latency from the pool's throughput profile)",
        fontsize=9,
    )
    return save(fig, out, "accuracy_vs_latency")


def _log_seconds(ax: Any) -> None:
    """Log x axis labelled in plain seconds."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _latency_legend(fig: Any, colour: dict[str, Any], marker: dict[int, str]) -> None:
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
    fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False)


def critical_difference(board: Leaderboard, backend: str, pool: str, out: Path) -> list[str]:
    """Critical-difference diagram over (task, budget) cells; skipped below 2 cells or 3 rows."""
    summary = rank_summary(board, backend, pool)
    if summary.friedman_p is None or summary.nemenyi is None:
        return []
    import scikit_posthocs as sp
    from scipy.stats import studentized_range

    k, n = len(summary.searchers), len(summary.cells)
    cd = float(
        studentized_range.ppf(0.95, k, np.inf) / math.sqrt(2) * math.sqrt(k * (k + 1) / (6 * n))
    )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 0.5 * k + 2.2))
    fig.subplots_adjust(left=0.22, right=0.78, top=0.8, bottom=0.04)  # room for the labels
    palette = {name: c for name, c in colours(board).items() if name in summary.mean_ranks}
    sp.critical_difference_diagram(
        summary.mean_ranks, summary.nemenyi, ax=ax, cd=cd, alpha=0.05, color_palette=palette
    )
    ax.set_title(
        f"Average rank (1 = best) over {n} (task, budget) cells, {backend} / {pool}\n"
        f"Friedman p = {summary.friedman_p:.3g}; bars join searchers the Nemenyi test "
        f"(alpha 0.05) cannot tell apart; CD = {cd:.2f}",
        fontsize=9,
        pad=28,  # above the CD bar the library draws over the axis
    )
    return save(fig, out, f"critical_difference_{backend}_{pool}")


def representative(row: Row) -> Run:
    """The run whose test accuracy is the median of the row's (lower median; lowest seed)."""
    ordered = sorted(row.runs, key=lambda r: (r.test_accuracy, r.seed))
    return ordered[(len(ordered) - 1) // 2]
