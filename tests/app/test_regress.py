"""The regression gate: the paired test's verdicts, its progress lines, and the CLI against a
doctored baseline."""

import json
import re

import pytest
from helpers import ROOT, run_cli

from suite.app import regress
from suite.app.regress import compare, matrix, report


def cell(accs):
    return {"seeds": list(range(len(accs))), "test_accuracy": accs}


def test_identical_results_pass():
    rows = compare({"t/s": cell([0.5, 0.6, 0.4])}, {"t/s": cell([0.5, 0.6, 0.4])})
    assert rows[0]["verdict"] == "ok" and rows[0]["p"] == 1.0


def test_a_consistent_drop_fails_and_noise_does_not():
    base = cell([0.50, 0.60, 0.55, 0.58, 0.52])
    drop = cell([0.41, 0.50, 0.47, 0.47, 0.44])
    noise = cell([0.52, 0.57, 0.56, 0.55, 0.54])
    assert compare({"t/s": base}, {"t/s": drop})[0]["verdict"] == "REGRESSION"
    assert compare({"t/s": base}, {"t/s": noise})[0]["verdict"] == "ok"
    better = cell([0.60, 0.70, 0.65, 0.68, 0.62])
    assert compare({"t/s": base}, {"t/s": better})[0]["verdict"] == "ok"


def test_new_cells_are_reported_not_failed():
    rows = compare({}, {"t/s": cell([0.5])})
    assert rows[0]["verdict"].startswith("new cell")
    assert "| t/s |" in report(rows, 1.0)


@pytest.mark.slow
def test_gate_cli_exits_1_on_a_drop_and_writes_the_report(tmp_path):
    committed = json.loads((ROOT / "leaderboard" / "baselines" / "ci.json").read_text())
    grid = matrix()
    assert set(committed["cells"]) == {f"{t}/{s}" for t in grid["task"] for s in grid["searcher"]}
    doctored = dict(committed)
    doctored["cells"] = {
        k: {**v, "test_accuracy": [min(1.0, a + 0.2) for a in v["test_accuracy"]]}
        for k, v in committed["cells"].items()
    }
    base = tmp_path / "ci.json"
    base.write_text(json.dumps(doctored))
    out = tmp_path / "report.md"
    proc = run_cli("suite.regress", "--baseline", base, "--report", out, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "REGRESSION" in out.read_text() and "p-value" in out.read_text()
    assert proc.stdout.strip() == out.read_text().strip()  # progress never mixes into the report
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("sim gate: 14 cells (2 tasks x 7 searchers) x 5 seeds = 70 runs")
    assert [line[:7] for line in lines[1:15]] == [f"[{k:>2}/14]" for k in range(1, 15)]
    assert re.match(r"sim gate: 70 runs in [\d.]+ s; 14 cells, \d+ significant drops: ", lines[-1])
    assert lines[-1].endswith("exit 1") and len(lines) == 16  # no warnings between them


@pytest.mark.slow
def test_missing_baseline_is_a_one_line_error(tmp_path):
    proc = run_cli("suite.regress", "--baseline", tmp_path / "none.json", timeout=120)
    assert proc.returncode == 2 and "--update" in proc.stderr and "Traceback" not in proc.stderr


def test_the_matrix_says_which_cell_it_ran_k_of_n(capsys, monkeypatch):
    """Composing and running are faked (the slow CLI test runs the real matrix)."""
    grid = {"task": ["mmlu"], "searcher": ["random", "reinforce"], "seed": ["0", "1"]}
    ran = []

    def fake_compose(overrides):
        return dict(o.lstrip("+").split("=", 1) for o in overrides)

    def fake_execute(data, text, run_dir, **_):
        ran.append((data["searcher"], data["seed"], run_dir.name))
        return {"test_accuracy": 0.5 + 0.1 * int(data["seed"])}

    monkeypatch.setattr(regress.cli, "compose", fake_compose)
    monkeypatch.setattr(regress, "execute", fake_execute)
    cells = regress.run_matrix(grid=grid, progress=regress.say)
    assert ran == [("random", "0", "gate-s0"), ("random", "1", "gate-s1"),
                   ("reinforce", "0", "gate-s0"), ("reinforce", "1", "gate-s1")]  # fmt: skip
    assert cells["mmlu/random"] == {"seeds": [0, 1], "test_accuracy": [0.5, 0.6]}
    assert list(cells) == ["mmlu/random", "mmlu/reinforce"]
    out, err = capsys.readouterr()
    assert out == ""  # stdout is the report's
    lines = err.strip().splitlines()
    assert lines[0] == "sim gate: 2 cells (1 tasks x 2 searchers) x 2 seeds = 4 runs " + (
        "(+experiment=ci_regression)"
    )
    for k, key in enumerate(cells, start=1):
        mean = 100 * sum(cells[key]["test_accuracy"]) / 2
        assert re.fullmatch(
            rf"\[{k}/2\] {key}: 2 seeds, mean test accuracy {mean:.1f}% \([\d.]+ s\)", lines[k]
        )
    assert len(lines) == 3
    regress.run_matrix(grid=grid)  # no progress callable: silent
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("shift", "code"), [(0.0, 0), (-0.2, 1)])
def test_the_gate_ends_with_a_summary_line_and_keeps_its_report(
    tmp_path, monkeypatch, capsys, shift, code
):
    base = {"mmlu/random": cell([0.5, 0.6, 0.4]), "mmlu/maao": cell([0.3, 0.5, 0.4])}
    now = {
        "mmlu/random": cell([a + shift + 0.01 * k for k, a in enumerate([0.5, 0.6, 0.4])]),
        "mmlu/maao": base["mmlu/maao"],
    }
    path = tmp_path / "ci.json"
    path.write_text(json.dumps({"schema": 1, "cells": base}))

    def fake_matrix(progress=None, **_):
        progress("[1/2] ...")
        return now

    monkeypatch.setattr(regress, "run_matrix", fake_matrix)
    assert regress.main(["--baseline", str(path)]) == code
    out, err = capsys.readouterr()
    assert out.startswith("### tts-graph-bench regression gate (sim backend)")
    assert "| cell | baseline | now | difference | p-value | verdict |" in out
    last = err.strip().splitlines()[-1]
    drops = "1 significant drops: mmlu/random" if code else "0 significant drops"
    assert re.fullmatch(
        rf"sim gate: 6 runs in [\d.]+ s; 2 cells, {drops} against {re.escape(str(path))}; "
        rf"exit {code}",
        last,
    )
