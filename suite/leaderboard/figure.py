"""What every leaderboard plot shares: matplotlib set up once, panels, legends, titles, saving.

Each figure is written as a 256-colour PNG and a text-preserving SVG under ``<out>/plots/``.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from suite.core.io import write_atomic
from suite.leaderboard.build import Group, Leaderboard

PLOT_DIR = "plots"


def pyplot() -> Any:
    """The pyplot module on the Agg backend, with the leaderboard's defaults."""
    # matplotlib is imported here, not at module top: it takes about a second to import and
    # only plotting needs it (``--no-plots`` builds and the table writers never do).
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.titlesize": 10,
            "svg.hashsalt": "tts-graph-bench",
            "svg.fonttype": "none",  # text stays text: smaller files, much faster to write
            "text.parse_math": False,  # names come from run folders: "$\\foo{$" is not math
        }
    )
    return plt


def save(fig: Any, out: Path, stem: str) -> list[str]:
    """Write ``<out>/plots/<stem>.png`` and ``.svg``; returns their paths relative to ``out``."""
    plt = pyplot()
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
    # Pillow comes with matplotlib and is as slow to import: lazy for the same reason.
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    packed = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(packed, "PNG", optimize=True)
    write_atomic(path, packed.getvalue())


def colours(board: Leaderboard) -> dict[str, Any]:
    """One colour per searcher row name, stable across every plot."""
    plt = pyplot()
    names = sorted({r.name for r in board.searcher_rows})
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def source(groups: Sequence[Group]) -> str:
    """The backend and agents behind a figure, for its title."""
    backend = ", ".join(
        sorted({g.key.backend + (" (simulated)" if g.simulated else "") for g in groups})
    )
    agents = ", ".join(sorted({a for g in groups for a in g.agents})) or "none"
    return f"backend {backend}; agent {agents}"


MIN_WIDTH_IN = 7.5  # a one-panel figure still has room for a three-line title and a legend
CHAR_IN = 0.075  # mean width of a 9-point character (DejaVu Sans), inches
HANDLE_IN = 0.6  # a legend entry's marker, padding and column gap, inches


def panels(
    n: int, width: float = 4.6, height: float = 3.6, max_cols: int = 3
) -> tuple[Any, list[Any]]:
    """A figure with ``n`` visible panels in rows of at most ``max_cols``; room for a legend."""
    plt = pyplot()
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(max(width * cols, MIN_WIDTH_IN), height * rows + 1.2),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def legend_below(fig: Any, axes: Sequence[Any], ncol: int = 4) -> None:
    """One legend under the figure with every distinct label of every panel."""
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    legend(fig, handles, labels, ncol)


def legend(fig: Any, handles: Sequence[Any], labels: Sequence[str], ncol: int = 4) -> None:
    """A legend under the figure, in as many columns (at most ``ncol``) as its width holds.

    Constrained layout makes room below for the legend's height but not its width: a legend
    wider than the figure is cut at both sides, so the columns are chosen to fit.
    """
    if not labels:
        return
    entry_in = HANDLE_IN + CHAR_IN * max(len(lab) for lab in labels)
    fits = int(fig.get_figwidth() // entry_in)
    cols = max(1, min(ncol, len(labels), fits))
    fig.legend(list(handles), list(labels), loc="outside lower center", ncol=cols, frameon=False)


def title(fig: Any, text: str) -> None:
    """A figure title, each line wrapped to the figure's width (a long line is cut otherwise)."""
    width = max(20, int(fig.get_figwidth() / CHAR_IN))
    lines = [wrapped for line in text.split("\n") for wrapped in textwrap.wrap(line, width)]
    fig.suptitle("\n".join(lines), fontsize=9)
