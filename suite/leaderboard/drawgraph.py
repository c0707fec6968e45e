"""Drawings of found collaboration graphs: colour = model, shape = role, ``final`` on the right.

Nodes sit in columns by depth (longest path from a root), so edges run left to right.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from suite.core.graph import FINAL, CollabGraph, Role
from suite.leaderboard.build import Group, Row
from suite.leaderboard.figure import legend, panels, save, title
from suite.leaderboard.load import Run
from suite.leaderboard.text import plural

SHAPES = {Role.ASSISTANT: "o", Role.FUSER: "s"}
FINAL_SHAPE = "*"
MODEL_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3")


def positions(graph: CollabGraph) -> dict[str, tuple[float, float]]:
    """X = depth (``final`` one column past the deepest node), y spread evenly per column."""
    depth = graph.depths()
    last = max((d for i, d in depth.items() if i != FINAL), default=-1) + 1
    depth[FINAL] = last
    columns: dict[int, list[str]] = {}
    for node_id in [*graph.node_ids, FINAL]:
        columns.setdefault(depth[node_id], []).append(node_id)
    out = {}
    for d, ids in columns.items():
        for k, node_id in enumerate(ids):
            out[node_id] = (float(d), (len(ids) - 1) / 2 - k)
    return out


def draw(ax: Any, graph: CollabGraph, model_colour: dict[str, str]) -> None:
    """Draw one graph on an axis (no ticks)."""
    pos = positions(graph)
    for src, dst in graph.edges:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        bend = 0.25 if x1 - x0 > 1 else 0.0  # arcs for edges that skip a column miss its nodes
        ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "#888888", "lw": 0.6, "shrinkA": 5,
                        "shrinkB": 6, "mutation_scale": 7, "connectionstyle": f"arc3,rad={bend}"},
        )  # fmt: skip
    size = 70 if len(graph.nodes) <= 12 else 35
    for node in graph.nodes:
        x, y = pos[node.id]
        ax.scatter([x], [y], s=size, marker=SHAPES[node.role], color=model_colour[node.model],
                   edgecolors="black", linewidths=0.5, zorder=3)  # fmt: skip
    x, y = pos[FINAL]
    ax.scatter([x], [y], s=size * 3, marker=FINAL_SHAPE, color=model_colour[graph.final_model],
               edgecolors="black", linewidths=0.7, zorder=3)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    ax.margins(0.15)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


def found_graphs(group: Group, out: Path) -> list[str]:
    """One panel per searcher row: the found graph of its median-accuracy seed."""
    # matplotlib stays a lazy import (about a second to import): see figure.pyplot.
    from matplotlib.lines import Line2D

    rows = [r for r in group.rows if r.kind == "searcher" and r.runs]
    if not rows:
        return []
    graphs = [(r, representative(r)) for r in rows]
    models = _model_order(
        graph for _, run in graphs for graph in [CollabGraph.from_dict(run.graph)]
    )
    colour = {m: MODEL_COLOURS[i % len(MODEL_COLOURS)] for i, m in enumerate(models)}
    fig, axes = panels(len(rows), 4.4, 3.4)
    for ax, (row, run) in zip(axes, graphs, strict=True):
        graph = CollabGraph.from_dict(run.graph)
        score = row.scores[row.runs.index(run)]
        draw(ax, graph, colour)
        ax.set_title(
            f"{row.name}\nseed {run.seed}: {_short(row.metric)} {100 * score:.0f}% "
            f"(median of {len(row.runs)}), {plural(len(graph.nodes), 'node')}",
            fontsize=8,
        )
    handles = [Line2D([], [], ls="", marker="o", color=c, label=m) for m, c in colour.items()]
    handles += [
        Line2D([], [], ls="", marker="o", mfc="white", mec="black", label="assistant node"),
        Line2D([], [], ls="", marker="s", mfc="white", mec="black", label="fuser node"),
        Line2D([], [], ls="", marker="*", mfc="white", mec="black", ms=11, label="final node"),
    ]
    legend(fig, handles, [str(h.get_label()) for h in handles])
    k = group.key
    title(
        fig,
        f"Found graphs, {k.task}, {k.budget_units} units, {k.backend} / {k.pool}: colour = model, "
        "shape = role, edges left to right into the final node",
    )
    return save(fig, out, f"graphs_{k.slug}")


def representative(row: Row) -> Run:
    """The run whose primary metric is the median of the row's (lower median; lowest seed)."""
    ordered = sorted(zip(row.scores, row.runs, strict=True), key=lambda t: (t[0], t[1].seed))
    return ordered[(len(ordered) - 1) // 2][1]


def _short(metric: str) -> str:
    """``expected acc.`` / ``test acc.`` for a panel title."""
    return metric.replace("accuracy", "acc.")


def _model_order(graphs: Any) -> list[str]:
    """Models by the size hint in their names (1b < 3b < 8b < 70b), then alphabetically."""
    names = {m for g in graphs for m in [g.final_model, *(n.model for n in g.nodes)]}

    def size(name: str) -> float:
        for part in reversed(name.replace("_", "-").split("-")):
            if part.lower().endswith("b"):
                try:
                    return float(part[:-1])
                except ValueError:
                    continue
        return math.inf

    return sorted(names, key=lambda n: (size(n), n))
