"""tasks/humaneval.yaml (humaneval_graph: full check()) and humaneval_paper.yaml (the paper's
single assert): real problems, real execution in the sandbox, batches in parallel."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lm_eval.tasks import TaskManager

from suite.data import cache as data
from suite.data.sandbox import Sandbox, SandboxUnavailable
from suite.sim import answers

TASKS = Path(__file__).resolve().parents[2] / "tasks"
sys.path.insert(0, str(TASKS))
import humaneval_utils  # noqa: E402  (tasks/ is data, not a package)

# The paper's scorer is not pass@1 (PAPER.md §2). On the canonical solutions it fails these:
# multi-line asserts its regex cuts (1, 113), a helper defined before the entry point (10), and
# asserts that use the test's loop variables (38, 50). A `pass` body passes `== None` asserts.
PAPER_FAILS_CANONICAL = {"HumanEval/1", "HumanEval/10", "HumanEval/38", "HumanEval/50",
                         "HumanEval/113"}  # fmt: skip
PAPER_PASSES_EMPTY = {"HumanEval/12", "HumanEval/90"}
QUIRKS = PAPER_FAILS_CANONICAL | PAPER_PASSES_EMPTY


@pytest.fixture(scope="module", autouse=True)
def os_isolation() -> None:
    """HumanEval code runs only behind OS-level isolation: without it these tests say so.

    (The refusal itself is tested in tests/data/test_sandbox.py.)
    """
    try:
        Sandbox()
    except SandboxUnavailable as exc:
        pytest.skip(f"no OS-level sandbox on this machine, so no HumanEval code runs: {exc}")


@pytest.fixture(scope="module")
def tasks() -> dict[str, Any]:
    data.prepare("humaneval")
    manager = TaskManager(include_path=str(TASKS), include_defaults=False)
    return dict(manager.load(["humaneval_graph", "humaneval_graph_paper"])["tasks"])


def scores(task: Any, docs: list[dict[str, Any]], texts: list[str]) -> list[float]:
    """Score a batch as lm-eval does: one filter pass over all instances, then per doc."""
    instances = []
    for doc, text in zip(docs, texts, strict=True):
        inst = task.construct_requests(doc=doc, ctx=task.doc_to_text(doc), metadata=("t", 0, 1))
        inst.resps = [text]
        instances.append(inst)
    (ensemble,) = task._filters
    ensemble.apply(instances)
    return [
        task.process_results(doc, [inst.filtered_resps[ensemble.name]])["pass@1"]
        for doc, inst in zip(docs, instances, strict=True)
    ]


def fenced(code: str) -> str:
    return f"Here is the function.\n```python\n{code}```\nDone."


@pytest.mark.slow  # 328 sandboxed programs
def test_all_164_canonical_solutions_pass_and_pass_bodies_fail(tasks: dict[str, Any]) -> None:
    task = tasks["humaneval_graph"]
    docs = list(task.eval_docs)
    assert len(docs) == 164
    start = time.perf_counter()
    gold = scores(task, docs, [fenced(d["prompt"] + d["canonical_solution"]) for d in docs])
    wall = time.perf_counter() - start
    assert gold == [1.0] * 164
    empty = scores(task, docs, [fenced(d["prompt"] + "    pass\n") for d in docs])
    assert empty == [0.0] * 164
    print(f"164 canonical solutions: 164 passed in {wall:.1f} s")  # shown with pytest -s


@pytest.mark.slow
def test_the_paper_scorer_and_its_known_quirks(tasks: dict[str, Any]) -> None:
    task = tasks["humaneval_graph_paper"]
    docs = [d for i, d in enumerate(task.eval_docs) if i % 8 == 0 or d["task_id"] in QUIRKS]
    gold = scores(task, docs, [fenced(d["prompt"] + d["canonical_solution"]) for d in docs])
    failed = {d["task_id"] for d, s in zip(docs, gold, strict=True) if s == 0.0}
    assert failed == PAPER_FAILS_CANONICAL
    empty = scores(task, docs, [fenced(d["prompt"] + "    pass\n") for d in docs])
    assert {
        d["task_id"] for d, s in zip(docs, empty, strict=True) if s == 1.0
    } == PAPER_PASSES_EMPTY


@pytest.mark.slow
def test_the_sims_broken_bodies_fail_under_both_scorers(tasks: dict[str, Any]) -> None:
    docs = list(tasks["humaneval_graph"].eval_docs)[::40]
    texts, owners = [], []
    for doc in docs:
        for code in itertools.islice(answers.code(doc["prompt"]), 5):  # all 4 kinds, numbered
            texts.append(fenced(code))
            owners.append(doc)
    for name in ("humaneval_graph", "humaneval_graph_paper"):
        assert scores(tasks[name], owners, texts) == [0.0] * len(texts)


def test_extraction(tasks: dict[str, Any]) -> None:
    task = tasks["humaneval_graph"]
    doc = next(iter(task.eval_docs))  # has_close_elements(numbers: List[float], ...)
    body = doc["canonical_solution"]
    signature = "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
    cases = {
        "no imports restated (the prompt's are added)": fenced(signature + body),
        "an unfenced function": "from typing import List\n" + signature + body,
        "a ```py fence": f"```py\n{doc['prompt']}{body}```",
    }
    assert scores(task, [doc] * 3, list(cases.values())) == [1.0, 1.0, 1.0]
    verdicts = humaneval_utils.run_check([["no code at all"]], [doc])
    assert verdicts == [["failed: no code found"]]
    verdicts = humaneval_utils.run_check([[fenced(signature + "    return None.x\n")]], [doc])
    assert verdicts[0][0].startswith("failed: AttributeError")


def test_the_single_assert_is_chosen_deterministically(tasks: dict[str, Any]) -> None:
    doc = list(tasks["humaneval_graph"].eval_docs)[2]
    text = fenced(doc["prompt"] + doc["canonical_solution"])
    first = humaneval_utils.paper_program(doc, text)
    assert first == humaneval_utils.paper_program(doc, text)
    assert first is not None and first.startswith("from typing import *\n")
    assert first.splitlines()[-1].startswith("assert truncate_number(")
