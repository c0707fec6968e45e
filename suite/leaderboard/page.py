"""The two human-readable pages, README.md and a static leaderboard.html, from one walk.

:func:`layout` walks the leaderboard once into a :class:`Page` of plain strings; the Jinja2
templates under ``templates/`` lay that page out as GitHub markdown or HTML. Every value
printed into either page is HTML-escaped, so a planted ``<script>`` is shown, never run.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from tabulate import tabulate

from suite.leaderboard.build import (
    SCHEMA,
    SCHEMA_VERSION,
    SUITE_VERSION,
    Leaderboard,
)
from suite.leaderboard.ranks import RankSummary
from suite.leaderboard.text import (
    COLUMNS_EXPLAINED,
    cells,
    headers,
    rank_note,
    rank_rows,
    statement,
    summaries,
    title,
)

GROUP_PLOTS = {"anytime": "anytime search curves", "graphs": "found graphs"}


@dataclass(frozen=True)
class Plot:
    """A plot the page shows or links: its path relative to the page, and its caption."""

    path: str
    caption: str


@dataclass(frozen=True)
class Table:
    """Displayed cells; ``classes`` is each row's class on the HTML page ('' for none)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    classes: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    """A titled table with the note that says what it holds, and the plots that belong to it."""

    title: str
    note: str
    table: Table
    plots: tuple[Plot, ...] = ()


@dataclass(frozen=True)
class Page:
    """Everything both pages show, as unescaped text (the templates escape it)."""

    generated: str
    root: str
    simulated: bool
    matrix: str  # which runs the tables hold; '' when none completed
    ranks: tuple[Section, ...]
    plots: tuple[Plot, ...]  # the plots not tied to one group
    groups: tuple[Section, ...]
    excluded: Table
    warnings: tuple[str, ...]


def layout(board: Leaderboard, plots: Sequence[str]) -> Page:
    """The one walk of the leaderboard that both pages are rendered from."""
    pngs = [p for p in plots if p.endswith(".png")]
    rel = board.collection.rel
    excluded = [(e.status, rel(e.path), e.reason) for e in board.collection.excluded]
    return Page(
        generated=board.generated,
        root=str(board.collection.root),
        simulated=any(g.simulated for g in board.groups),
        matrix=matrix(board),
        ranks=tuple(_rank_section(s) for s in summaries(board)),
        plots=tuple(Plot(p, _caption(p)) for p in pngs if not _for_group(p)),
        groups=tuple(
            Section(
                title(g),
                statement(g, board),
                _table(headers(g), [cells(r, g) for r in g.rows], [r.kind for r in g.rows]),
                tuple(Plot(p, _caption(p)) for p in pngs if _for_group(p) == g.key.slug),
            )
            for g in board.groups
        ),
        excluded=_table(("status", "run folder", "reason"), excluded),
        warnings=tuple(board.warnings),
    )


def _rank_section(summary: RankSummary) -> Section:
    headers, rows = rank_rows(summary)
    return Section(
        f"Average rank: {summary.backend} / {summary.pool}",
        rank_note(summary),
        _table(headers, rows),
    )


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None
) -> Table:
    return Table(
        tuple(headers),
        tuple(tuple(row) for row in rows),
        tuple(classes) if classes is not None else ("",) * len(rows),
    )


def _for_group(path: str) -> str:
    """The group slug a per-group plot belongs to (``plots/anytime_<slug>.png``), else ''."""
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    kind, _, slug = stem.partition("_")
    return slug if kind in GROUP_PLOTS else ""


def _caption(path: str) -> str:
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    kind = stem.partition("_")[0]
    return GROUP_PLOTS.get(kind, stem.replace("_", " "))


def matrix(board: Leaderboard) -> str:
    """One paragraph saying exactly which runs the tables hold ('' when none completed)."""
    runs = board.collection.runs
    if not runs:
        return ""
    seeds = sorted({r.seed for r in runs})
    per_row = sorted({len(r.seeds) for r in board.searcher_rows})
    tasks = ", ".join(sorted({r.task for r in runs}))
    return (
        f"{len(runs)} completed runs; tasks {tasks}; "
        f"budgets {', '.join(str(u) for u in sorted({r.budget_units for r in runs}))} units; "
        f"searchers {', '.join(sorted({r.label for r in runs}))}; seeds "
        f"{', '.join(str(s) for s in seeds)} ({'/'.join(str(n) for n in per_row)} per row); "
        f"backends {', '.join(sorted({f'{r.backend} ({r.pool})' for r in runs}))}. "
        f"Excluded: {len(board.collection.excluded)} runs (listed below)."
    )


def _html_escape(value: object) -> Markup:
    """Escape a printed value, quotes included; template output (Markup) passes unchanged."""
    # html.escape rather than markupsafe's escape: the same entities (&#x27;, &quot;) as the
    # pages written before the templates, so the same runs still give the same bytes.
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def _md_escape(value: object) -> str:
    """HTML-escape a printed value for markdown (which renders inline HTML); Markup passes.

    A ``<`` that cannot open a tag (``<0.001``, ``< 5``) stays as it is: markdown shows it
    literally, where ``&lt;`` would be read raw in the file.
    """
    if isinstance(value, Markup):
        return value
    return _LITERAL_LT.sub("<", html.escape(str(value), quote=False))


# An HTML tag, comment or declaration starts with "<" and a letter, "/", "!" or "?".
_LITERAL_LT = re.compile(r"&lt;(?![A-Za-z/!?])")


def md_table(table: Table) -> Markup:
    """A GitHub markdown table, every value escaped (pipes too)."""
    headers = [_md_escape(h) for h in table.headers]
    rows = [[_md_escape(v).replace("|", "\\|") for v in row] for row in table.rows]
    text = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return Markup(text)


def _environment(
    autoescape: bool, finalize: Callable[[object], str], filters: Mapping[str, Callable[..., str]]
) -> Environment:
    env = Environment(
        loader=PackageLoader("suite.leaderboard", "templates"),
        autoescape=autoescape,
        finalize=finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(filters)
    env.globals.update(
        suite_version=SUITE_VERSION,
        schema=SCHEMA,
        schema_version=SCHEMA_VERSION,
        columns=COLUMNS_EXPLAINED,
    )
    return env


# Markdown renders inline HTML, so its values are HTML-escaped too (quotes may stay).
MARKDOWN = _environment(False, _md_escape, {"md_table": md_table})
HTML = _environment(True, _html_escape, {})


def markdown(page: Page, about: str = "") -> str:
    """README.md of the leaderboard folder; ``about`` is markdown from the publisher, kept as is."""
    return MARKDOWN.get_template("leaderboard.md.j2").render(page=page, about=Markup(about))


def html_page(page: Page) -> str:
    """One static, self-contained page whose columns sort with a small inline script."""
    return HTML.get_template("leaderboard.html.j2").render(page=page)
