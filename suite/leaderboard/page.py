"""The two human-readable pages: README.md (GitHub markdown) and a static leaderboard.html.

The HTML page has no external resources; a small inline script sorts a table by the clicked
column. Every string taken from results (names, paths, reasons, notes) goes through
``html.escape``, in the markdown too, so a planted ``<script>`` is shown, never run.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from suite.leaderboard.build import SCHEMA, SCHEMA_VERSION, SUITE_VERSION, Leaderboard
from suite.leaderboard.render import (
    COLUMNS_EXPLAINED,
    HEADERS,
    cells,
    md_table,
    rank_note,
    rank_rows,
    statement,
    summaries,
    title,
)

HOW_TO = """\
## Reproduce, add a row, use a real pool

```bash
python -m suite.run -m +experiment=leaderboard_sim   # the sweep (finished cells are skipped)
python -m suite.missing +experiment=leaderboard_sim  # cells that have no completed run yet
python -m suite.leaderboard results/leaderboard_sim --out leaderboard/   # tables and plots
```

Parallel: add `+experiment/launcher=joblib` (Hydra's joblib launcher, one process per core).

**Add a searcher's row**: write the searcher (README, "Adding a searcher"), run its cells with
`python -m suite.run -m +experiment=leaderboard_sim searcher=<name>`, and open a pull request
with the run folders (every cell writes its own `results/<task>/<searcher>/<stamp>-s<seed>/`,
so folders from any machine merge by copying) and the regenerated `leaderboard/`.

**Single-model rows** come from `python -m suite.evaluate graph=single:<model> task=<task>
out=results/<task>/single/<backend>-<model>.json` (or `python -m suite.leaderboard singles
results/ --task <task>`, which writes one file per model of the pool).

**A real pool**: the same commands with `backend=vllm` (and `agent=vllm` or `agent=openai` for
the agent searchers) write run folders whose tables say `vllm on the real <pool> pool`; there is
no regret column there, since only the simulator knows the best graph.
"""


GROUP_PLOTS = {"anytime": "anytime search curves", "graphs": "found graphs"}


def _for_group(path: str) -> str:
    """The group slug a per-group plot belongs to (``plots/anytime_<slug>.png``), else ''."""
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    kind, _, slug = stem.partition("_")
    return slug if kind in GROUP_PLOTS else ""


def _caption(path: str) -> str:
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    kind = stem.partition("_")[0]
    return GROUP_PLOTS.get(kind, stem.replace("_", " "))


def _esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def matrix(board: Leaderboard) -> str:
    """One paragraph saying exactly which runs the tables hold."""
    runs = board.collection.runs
    if not runs:
        return "No completed runs."
    seeds = sorted({r.seed for r in runs})
    per_row = sorted({len(r.seeds) for r in board.searcher_rows})
    tasks = ", ".join(sorted({r.task for r in runs}))
    return (
        f"**Matrix**: {len(runs)} completed runs; tasks {tasks}; "
        f"budgets {', '.join(str(u) for u in sorted({r.budget_units for r in runs}))} units; "
        f"searchers {', '.join(sorted({r.label for r in runs}))}; seeds "
        f"{', '.join(str(s) for s in seeds)} ({'/'.join(str(n) for n in per_row)} per row); "
        f"backends {', '.join(sorted({f'{r.backend} ({r.pool})' for r in runs}))}. "
        f"Excluded: {len(board.collection.excluded)} runs (listed below)."
    )


def markdown(board: Leaderboard, plots: Sequence[str], about: str = "") -> str:
    """README.md of the leaderboard folder."""
    sim = any(g.simulated for g in board.groups)
    lines = [
        "# tts-graph-bench leaderboard",
        "",
        f"Generated {board.generated} by `python -m suite.leaderboard` (suite {SUITE_VERSION}, "
        f"schema {SCHEMA} v{SCHEMA_VERSION}) from the run folders under "
        f"`{_esc(board.collection.root)}` alone. Also as [HTML](leaderboard.html), "
        "[LaTeX](leaderboard.tex), [CSV](leaderboard.csv) and [JSON](leaderboard.json).",
        "",
    ]
    if sim:
        lines += [
            "> **sim numbers are simulated.** The `sim` backend is a calibrated surrogate of LLM "
            "behaviour, not any real model: nothing here is a real model score or a numeric "
            "reproduction of the paper. Rows marked `[heuristic]` used the rule-based stand-in "
            "agent, not an LLM.",
            "",
        ]
    lines += [_esc(matrix(board)), ""]
    if about:
        lines += [about.strip(), ""]
    for s in summaries(board):
        headers, rows = rank_rows(s)
        lines += [f"## Average rank: {s.backend} / {s.pool}", "", _esc(rank_note(s)), ""]
        lines += [md_table([_esc(h) for h in headers], [[_esc(v) for v in r] for r in rows]), ""]
    shared = [p for p in plots if p.endswith(".png") and not _for_group(p)]
    if shared:
        lines += ["## Plots", ""]
        lines += [f"![{_esc(_caption(p))}]({p})" for p in shared] + [""]
    for g in board.groups:
        lines += [f"## {_esc(title(g))}", "", _esc(statement(g, board)), ""]
        rows = [[_esc(v) for v in cells(r)] for r in g.rows]
        lines += [md_table(HEADERS, rows), ""]
        mine = [p for p in plots if p.endswith(".png") and _for_group(p) == g.key.slug]
        if mine:
            lines += ["Plots: " + " · ".join(f"[{_caption(p)}]({p})" for p in mine), ""]
    lines += _excluded_md(board) + _warnings_md(board)
    lines += ["## Columns", ""] + [f"- **{k}**: {v}" for k, v in COLUMNS_EXPLAINED] + [""]
    lines += [HOW_TO]
    return "\n".join(lines)


def _excluded_md(board: Leaderboard) -> list[str]:
    excluded = board.collection.excluded
    if not excluded:
        return ["## Excluded runs", "", "None: every run folder completed.", ""]
    rel = board.collection.rel
    rows = [[_esc(e.status), _esc(rel(e.path)), _esc(e.reason)] for e in excluded]
    return [
        "## Excluded runs",
        "",
        f"{len(excluded)} run folders are not averaged in:",
        "",
        md_table(["status", "run folder", "reason"], rows),
        "",
    ]


def _warnings_md(board: Leaderboard) -> list[str]:
    if not board.warnings:
        return []
    return ["## Warnings", "", *(f"- {_esc(w)}" for w in board.warnings), ""]


SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("data-dir") !== "asc";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", asc ? "asc" : "desc");
    function key(row) {
      var text = row.cells[col].getAttribute("data-v") || row.cells[col].textContent;
      var num = parseFloat(text);
      return isNaN(num) ? text.toLowerCase() : num;
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 110em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
td:nth-child(2), th:nth-child(2) { text-align: left; }
th { cursor: pointer; background: #f3f3f3; }
th[data-dir="asc"]::after { content: " \\25B2"; } th[data-dir="desc"]::after { content: " \\25BC"; }
tr.single td { color: #555; font-style: italic; }
.note { color: #444; max-width: 80em; }
img { max-width: 100%; }
"""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row, cls in zip(rows, classes, strict=True):
        tds = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        body.append(f'<tr class="{html.escape(cls)}">{tds}</tr>')
    return (
        f'<table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def html_page(board: Leaderboard, plots: Sequence[str]) -> str:
    """One static, self-contained page; every value is escaped."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>tts-graph-bench leaderboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>tts-graph-bench leaderboard</h1>",
        f'<p class="note">Generated {e(board.generated)} (suite {e(SUITE_VERSION)}, schema '
        f"{e(SCHEMA)} v{SCHEMA_VERSION}) from {e(str(board.collection.root))}. Click a column "
        "header to sort.</p>",
    ]
    if any(g.simulated for g in board.groups):
        parts.append(
            '<p class="note"><strong>sim numbers are simulated</strong>: a calibrated '
            "surrogate of LLM behaviour, not real model scores. Rows marked [heuristic] used the "
            "rule-based stand-in agent, not an LLM.</p>"
        )
    parts.append(f'<p class="note">{e(matrix(board).replace("**", ""))}</p>')
    for s in summaries(board):
        headers, rows = rank_rows(s)
        parts += [f"<h2>Average rank: {e(s.backend)} / {e(s.pool)}</h2>"]
        parts += [f'<p class="note">{e(rank_note(s))}</p>', _table(headers, rows, [""] * len(rows))]
    for g in board.groups:
        rows = [cells(r) for r in g.rows]
        parts += [
            f"<h2>{e(title(g))}</h2>",
            f'<p class="note">{e(statement(g, board))}</p>',
            _table(HEADERS, rows, [r.kind for r in g.rows]),
        ]
        mine = [p for p in plots if p.endswith(".png") and _for_group(p) == g.key.slug]
        if mine:
            links = " · ".join(f'<a href="{e(p, quote=True)}">{e(_caption(p))}</a>' for p in mine)
            parts.append(f"<p>Plots: {links}</p>")
    shared = [p for p in plots if p.endswith(".png") and not _for_group(p)]
    if shared:
        parts.append("<h2>Plots</h2>")
        parts += [
            f'<p><img src="{e(p, quote=True)}" alt="{e(_caption(p), quote=True)}"></p>'
            for p in shared
        ]
    ex = board.collection.excluded
    parts.append(f"<h2>Excluded runs ({len(ex)})</h2>")
    if ex:
        rows = [[x.status, board.collection.rel(x.path), x.reason] for x in ex]
        parts.append(_table(["status", "run folder", "reason"], rows, [""] * len(rows)))
    if board.warnings:
        parts.append("<h2>Warnings</h2><ul>")
        parts += [f"<li>{e(w)}</li>" for w in board.warnings] + ["</ul>"]
    parts.append("<h2>Columns</h2><ul>")
    parts += [f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in COLUMNS_EXPLAINED] + ["</ul>"]
    parts += [f"<script>{SCRIPT}</script>", "</body></html>", ""]
    return "\n".join(parts)
