"""The regression gate: the paired test's verdicts, and the CLI against a doctored baseline."""

import json

import pytest
from helpers import ROOT, run_cli

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


@pytest.mark.slow
def test_missing_baseline_is_a_one_line_error(tmp_path):
    proc = run_cli("suite.regress", "--baseline", tmp_path / "none.json", timeout=120)
    assert proc.returncode == 2 and "--update" in proc.stderr and "Traceback" not in proc.stderr
