"""Tests for tasks/mmlu.yaml (mmlu_graph) and mmlu_paper.yaml: loading with lm-eval, scoring."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from lm_eval.tasks import TaskManager

from suite.data import cache as data
from suite.data.layout import data_dir

TASKS = Path(__file__).resolve().parents[2] / "tasks"


@pytest.fixture(scope="module")
def task() -> Any:
    """The mmlu_graph task over the real MMLU data in the user's cache (built once per machine)."""
    data.prepare("mmlu")
    tm = TaskManager(include_path=str(TASKS), include_defaults=False)
    return tm.load(["mmlu_graph"])["tasks"]["mmlu_graph"]


def score(task: Any, doc: dict[str, Any], text: str) -> float:
    """Score ``text`` with the task's own filter and metric, as lm-eval's evaluator would."""
    for stop in task.config.generation_kwargs["until"]:  # lm-eval's filters never apply `until`
        text = text.split(stop, 1)[0]
    ctx = task.doc_to_text(doc)
    inst = task.construct_requests(doc=doc, ctx=ctx, metadata=("mmlu_graph", 0, 1))
    inst.resps = [text]
    (ensemble,) = task._filters  # one FilterEnsemble per filter_list entry
    assert ensemble.name == "answer-letter"
    ensemble.apply([inst])
    return float(task.process_results(doc, [inst.filtered_resps[ensemble.name]])["exact_match"])


@pytest.fixture(scope="module")
def gold_b(task: Any) -> dict[str, Any]:
    return next(doc for doc in task.eval_docs if doc["answer"] == 1)


def test_task_loads_all_rows_with_the_question_block(task: Any) -> None:
    docs = list(task.eval_docs)
    assert len(docs) == data.prepare("mmlu").n_rows == 1331
    doc = docs[0]
    letters = "\n".join(f"{k}. {c}" for k, c in zip("ABCD", doc["choices"], strict=True))
    assert task.doc_to_text(doc) == f"{doc['question'].strip()}\n{letters}"
    assert task.doc_to_target(doc) == "ABCD"[doc["answer"]]
    assert task.OUTPUT_TYPE == "generate_until" and task.DATASET_PATH is None
    assert task.config.generation_kwargs == {
        "until": ["</s>", "<|im_end|>", "<|eot_id|>"], "do_sample": False, "max_gen_toks": 1024,
    }  # fmt: skip
    assert task.config.metadata["version"] == 1.0


def test_the_tag_names_the_task() -> None:
    tm = TaskManager(include_path=str(TASKS), include_defaults=False)
    assert "tts_graph_bench" in tm.all_tags and "mmlu_graph" in tm.all_subtasks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: B\nBecause the neuron fires fully or not at all.", 1.0),
        ("answer: b", 1.0),
        ("The answer is (B).", 1.0),
        ("Answer:B", 1.0),
        ("**Answer:** B", 1.0),
        ("The correct answer is **B**.", 1.0),
        ("Answer: B ... Answer: C", 1.0),  # the first answer wins
        ("Answer: C", 0.0),
        ("I don't know", 0.0),
        ("", 0.0),
        ("The answer is a bit unclear.", 0.0),  # lower-case bare letter after "is": no answer
        ("Answer: Based on the data, B", 0.0),
        ("Let me think.</s>Answer: B", 0.0),  # cut at `until` first
    ],
)
def test_scoring_uses_the_first_answer_letter(
    task: Any, gold_b: dict[str, Any], text: str, expected: float
) -> None:
    assert score(task, gold_b, text) == expected


def test_aggregation_is_the_mean(task: Any) -> None:
    assert task.aggregation()["exact_match"]([1.0, 0.0]) == 0.5
    assert task.higher_is_better() == {"exact_match": True}


def test_data_dir_comes_from_task_metadata(tmp_path: Path) -> None:
    rows = [
        {"question": f"Q{i}", "subject": "", "choices": ["w", "x", "y", "z"], "answer": i}
        for i in range(2)
    ]
    path = tmp_path / "mmlu" / "mmlu.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tm = TaskManager(
        include_path=str(TASKS), include_defaults=False, metadata={"data_dir": str(tmp_path)}
    )
    docs = list(tm.load(["mmlu_graph"])["tasks"]["mmlu_graph"].eval_docs)
    assert [doc["question"] for doc in docs] == ["Q0", "Q1"]


def test_missing_data_names_the_prepare_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path))
    tm = TaskManager(include_path=str(TASKS), include_defaults=False)
    with pytest.raises(
        FileNotFoundError,
        match=re.escape("mmlu data not prepared: run `python -m suite.data prepare mmlu`"),
    ):
        tm.load(["mmlu_graph"])


def _imports(path: Path) -> set[str]:
    return {
        alias.name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }


def test_tasks_import_no_suite_but_the_sandbox() -> None:
    assert not (TASKS / "__init__.py").exists()  # data, not a package
    for path in sorted(TASKS.glob("*.py")):
        suite_imports = {m for m in _imports(path) if m.split(".")[0] == "suite"}
        allowed = {"suite.data.sandbox"} if path.name == "humaneval_utils.py" else set()
        assert suite_imports == allowed, path.name


def test_utils_agrees_with_suite_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict[str, Any] = {}
    exec(compile((TASKS / "utils.py").read_text(), "utils.py", "exec"), namespace)
    for env in (str(tmp_path), None):
        if env is None:
            monkeypatch.delenv("TTSGB_CACHE_DIR", raising=False)
        else:
            monkeypatch.setenv("TTSGB_CACHE_DIR", env)
        assert namespace["_data_dir"](None) == data_dir()


@pytest.fixture(scope="module")
def paper_task() -> Any:
    tm = TaskManager(include_path=str(TASKS), include_defaults=False)
    return tm.load(["mmlu_graph_paper"])["tasks"]["mmlu_graph_paper"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: B", 1.0),
        ("The answer is:\n\nB", 1.0),
        ("so I pick B", 1.0),  # ends with the letter
        ("B. because neurons fire fully", 1.0),
        ("Answer: B. Option A. was tempting", 0.0),  # "A." matches first: the rule leans to A
        ("Answer: C", 0.0),
        ("no idea", 0.0),
    ],
)
def test_the_paper_letter_rule(
    paper_task: Any, gold_b: dict[str, Any], text: str, expected: float
) -> None:
    inst = paper_task.construct_requests(
        doc=gold_b, ctx=paper_task.doc_to_text(gold_b), metadata=("mmlu_graph_paper", 0, 1)
    )
    inst.resps = [text]
    (ensemble,) = paper_task._filters
    assert ensemble.name == "paper-letter"
    ensemble.apply([inst])
    result = paper_task.process_results(gold_b, [inst.filtered_resps[ensemble.name]])
    assert float(result["exact_match"]) == expected


def test_lm_evals_templates_compile_once_and_render_the_same(task: Any) -> None:
    """The suite memoizes lm-eval's Jinja compile; the text of every question stays lm-eval's."""
    from jinja2 import Environment, StrictUndefined
    from lm_eval import utils

    from suite.data.tasks import memoize_templates

    docs = list(task.eval_docs)[:50]
    before = [task.doc_to_text(d) for d in docs] + [task.doc_to_target(d) for d in docs]
    memoize_templates()
    memoize_templates()  # idempotent: one memo, not a memo of a memo
    after = [task.doc_to_text(d) for d in docs] + [task.doc_to_target(d) for d in docs]
    assert after == before
    template = task.config.doc_to_text
    assert utils.env.from_string(template) is utils.env.from_string(template)
    fresh = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    assert utils.apply_template(template, docs[0]) == fresh.from_string(template).render(**docs[0])
    assert utils.env.from_string(template, globals={"x": 1}) is not utils.env.from_string(template)
