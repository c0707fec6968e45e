"""Payloads planted in a run folder's names never reach a published file as live markup.

One payload set (HTML, a line break, a ``javascript:`` link, a CSV formula, matplotlib math)
goes into searcher labels (shown, escaped by each writer) and into task, backend and searcher
names and folder names (the folder is excluded; its path and reason are shown markup-free).
"""

import csv
import io
import json

import pytest
from helpers.runs import make_run

from suite.app.leaderboard import build_all

PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "nl\n# planted heading",
    "[click](javascript:alert(1))",
    '=HYPERLINK("http://evil/","x")',
    "+cmd",
    "-cmd",
    "@cmd",
    "$\\foo{$",
)


def _plant(root):
    for i, payload in enumerate(PAYLOADS):
        for seed in range(2):
            make_run(root, f"s{i}", seed, label=payload)
    for key in ("task", "backend", "searcher"):
        folder = make_run(root, "random", 9, task=PAYLOADS[0] if key == "task" else "mmlu")
        record = json.loads((folder / "final.json").read_text())
        record[key] = PAYLOADS[3]
        (folder / "final.json").write_text(json.dumps(record))


@pytest.mark.slow
def test_no_payload_is_live_in_any_output(tmp_path):
    results, out = tmp_path / "results", tmp_path / "lb"
    for seed in range(2):
        make_run(results, "random", seed)
    _plant(results)
    board, files = build_all(results, out, plots=True)
    assert len(board.collection.excluded) == 3
    texts = {p.name: p.read_text(encoding="utf-8") for p in files if p.suffix != ".png"}
    assert any(name.endswith(".svg") for name in texts)
    for name, text in texts.items():
        assert "](javascript:" not in text, name
        assert "\n# planted heading" not in text, name
        if not name.endswith((".csv", ".json")):  # markup formats: the tag is escaped
            assert "<img src=x" not in text, name
    html = texts["leaderboard.html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the label, escaped
    assert "$\\foo{$" not in texts["leaderboard.tex"]
    for row in csv.reader(io.StringIO(texts["leaderboard.csv"])):
        for cell in row:
            assert cell[:1] not in ("=", "+", "@"), cell
            assert cell == "-" or not (cell[:1] == "-" and not cell[1:2].isdigit()), cell
    readme = texts["README.md"]
    for line in readme.splitlines():
        if line.startswith("|"):
            assert "javascript:" not in line or "](" not in line
