"""Tests for tasks/arith_synthetic.yaml: the generated set, its prompts and lm-eval's scoring."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from lm_eval.tasks import TaskManager

from suite import prompts
from suite.data import cache as data

TASKS = Path(__file__).resolve().parents[2] / "tasks"


@pytest.fixture(scope="module")
def task() -> Any:
    """The arith_synthetic_graph entry over the prepared generated set (built in about 1 s)."""
    data.prepare("arith_synthetic")
    tm = TaskManager(include_path=str(TASKS), include_defaults=False)
    return tm.load(["arith_synthetic_graph"])["tasks"]["arith_synthetic_graph"]


def score(task: Any, doc: dict[str, Any], text: str) -> float:
    """Score ``text`` with the entry's own filter and metric, as lm-eval's evaluator would."""
    for stop in task.config.generation_kwargs["until"]:
        text = text.split(stop, 1)[0]
    inst = task.construct_requests(doc=doc, ctx=task.doc_to_text(doc), metadata=("a", 0, 1))
    inst.resps = [text]
    (ensemble,) = task._filters
    ensemble.apply([inst])
    return float(task.process_results(doc, [inst.filtered_resps[ensemble.name]])["exact_match"])


def test_the_set_is_one_step_sums_with_their_generators_answers(task: Any) -> None:
    docs = list(task.eval_docs)
    assert len(docs) == 1000
    for doc in docs[:50]:
        left, right = doc["question"].removeprefix("What is ").rstrip("?").split(" + ")
        assert int(left) + int(right) == int(doc["answer"])


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("{a} + {b} = {gold}", 1.0),  # what SmolLM2 mostly writes
        ("{gold}", 1.0),
        ("The answer is {gold}.", 1.0),
        ("To add {a} and {b}, you add them together: {a} + {b} = {gold}.", 1.0),
        ("{a} + {b} = {wrong}", 0.0),
        ("{wrong}", 0.0),
        ("To add {a} and {b}, you simply add them together.", 0.0),  # no stated result
        ("", 0.0),
    ],
)
def test_the_filter_reads_the_stated_number(task: Any, reply: str, expected: float) -> None:
    for doc in list(task.eval_docs)[:10]:
        a, b = doc["question"].removeprefix("What is ").rstrip("?").split(" + ")
        gold = doc["answer"]
        text = reply.format(a=a, b=b, gold=gold, wrong=int(gold) + 1)
        assert score(task, doc, text) == expected, text


def test_prompts_ask_for_the_number_and_render_the_question(task: Any) -> None:
    doc = next(iter(task.eval_docs))
    text = prompts.load("arith")
    for kind in ("direct", "assistant", "fuser", "final"):
        responses = [] if kind == "direct" else ["3 + 4 = 7", "8"]
        system, user = text.messages(kind, task.doc_to_text(doc), responses)
        assert doc["question"] in user[1]
        assert "number" in system[1]
