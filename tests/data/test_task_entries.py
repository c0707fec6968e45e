"""The lm-eval entries for GSM8K and MATH (real and generated): they load offline, render the
suite's prompts, score gold text 1 and wrong text 0, and score exactly as lm-eval's built-ins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lm_eval.tasks import TaskManager
from lm_eval.tasks._yaml_loader import load_yaml

from suite import prompts
from suite.config import CONF_DIR
from suite.data import cache as data

TASKS = Path(__file__).resolve().parents[2] / "tasks"
ENTRIES = [
    "arith_synthetic_graph", "gsm8k_graph", "gsm8k_synthetic_graph", "humaneval_graph",
    "humaneval_graph_paper",
    "math_graph", "math_graph_paper", "math_synthetic_graph", "mmlu_graph", "mmlu_graph_paper",
]  # fmt: skip
GSM8K_ROWS = [
    {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3+4=7\n#### 7"},
    {"question": "A box holds 1,200 pens; 200 are sold.", "answer": "1200-200=1000\n#### 1000"},
]
MATH_ROWS = [
    {"problem": "What is 1/2 + 0?", "level": "Level 1", "type": "Algebra",
     "solution": "It is $\\boxed{\\frac{1}{2}}$."},
    {"problem": "Compute 2+3.", "level": "Level 1", "type": "Prealgebra",
     "solution": "$2+3=\\boxed{5}$"},
]  # fmt: skip


@pytest.fixture(scope="module")
def local_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding tiny gsm8k and math sets, as `suite.data.cache prepare` would write."""
    root = tmp_path_factory.mktemp("data")
    for name, rows in (("gsm8k", GSM8K_ROWS), ("math", MATH_ROWS)):
        (root / name).mkdir()
        (root / name / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def tasks(local_dir: Path) -> dict[str, Any]:
    """Real entries on the tiny local sets, generated entries on the prepared stand-ins."""
    data.prepare("gsm8k_synthetic")
    data.prepare("math_synthetic")
    real = TaskManager(include_path=str(TASKS), include_defaults=False,
                       metadata={"data_dir": str(local_dir)})  # fmt: skip
    loaded = dict(real.load(["gsm8k_graph", "math_graph", "math_graph_paper"])["tasks"])
    ours = TaskManager(include_path=str(TASKS), include_defaults=False)
    loaded.update(ours.load(["gsm8k_synthetic_graph", "math_synthetic_graph"])["tasks"])
    return loaded


def score(task: Any, doc: dict[str, Any], text: str, which: int = 0) -> float:
    """Score text as lm-eval's evaluator does: cut at `until`, one filter, process_results."""
    for stop in task.config.generation_kwargs["until"]:
        text = text.split(stop, 1)[0]
    inst = task.construct_requests(doc=doc, ctx=task.doc_to_text(doc), metadata=("t", 0, 1))
    inst.resps = [text]
    ensemble = task._filters[which]
    ensemble.apply([inst])
    result = task.process_results(doc, [inst.filtered_resps[ensemble.name]])
    return float(next(iter(result.values())))


def test_every_entry_is_listed_and_named_after_its_suite_task() -> None:
    manager = TaskManager(include_path=str(TASKS), include_defaults=False)
    assert sorted(n for n in manager.all_tasks if n != "tts_graph_bench") == ENTRIES
    configured = {
        yaml.safe_load(p.read_text())["lm_eval_task"]: p.stem
        for p in (CONF_DIR / "task").glob("*.yaml")
    }
    for name in ENTRIES:
        suite_task = name.split("_graph")[0]
        assert (CONF_DIR / "task" / f"{suite_task}.yaml").is_file(), name
        if not name.endswith("_paper"):
            assert configured[name] == suite_task


@pytest.mark.parametrize(
    ("name", "prompt_set"),
    [("gsm8k_graph", "gsm8k"), ("gsm8k_synthetic_graph", "gsm8k"), ("math_graph", "math"),
     ("math_synthetic_graph", "math")],
)  # fmt: skip
def test_prompts_render_with_the_question_and_the_answer_format(
    tasks: dict[str, Any], name: str, prompt_set: str
) -> None:
    task = tasks[name]
    doc = next(iter(task.eval_docs))
    question = task.doc_to_text(doc)
    assert question == (doc.get("question") or doc.get("problem"))
    text = prompts.load(prompt_set)
    for kind in ("direct", "assistant", "fuser", "final"):
        responses = [] if kind == "direct" else ["Response one", "Response two"]
        system, user = text.messages(kind, question, responses)
        assert question in user[1]
        assert ("####" in system[1]) if prompt_set == "gsm8k" else ("\\boxed{}" in system[1])


@pytest.mark.parametrize("name", ["gsm8k_graph", "gsm8k_synthetic_graph"])
def test_gsm8k_gold_scores_1_and_wrong_scores_0(tasks: dict[str, Any], name: str) -> None:
    task = tasks[name]
    for doc in list(task.eval_docs)[:20]:
        gold = doc["answer"].rsplit("#### ", 1)[1]
        assert score(task, doc, f"Step by step.\n#### {gold}") == 1.0
        assert score(task, doc, f"Step by step.\n#### {int(float(gold)) + 1}") == 0.0
        assert score(task, doc, f"The answer is {gold}.") == 0.0  # strict-match wants ####
        assert score(task, doc, f"The answer is {gold}.", which=1) == 1.0  # flexible-extract


def test_gsm8k_scores_equal_lm_evals_builtin_gsm8k(tasks: dict[str, Any], local_dir: Path) -> None:
    """Same outputs, built-in gsm8k entry (on the same local rows) and ours: same scores."""
    builtin = load_yaml(_builtin("gsm8k/gsm8k.yaml"))
    builtin.update(
        task="gsm8k_builtin_local", tag=None, dataset_path="json", dataset_name=None,
        dataset_kwargs={"data_files": {"test": str(local_dir / "gsm8k" / "gsm8k.jsonl")}},
        training_split=None, fewshot_split=None, num_fewshot=0,
    )  # fmt: skip
    reference = TaskManager(include_defaults=False).load([builtin])["tasks"]["gsm8k_builtin_local"]
    ours = tasks["gsm8k_graph"]
    outputs = ["3+4 is 7.\n#### 7", "#### 1,000", "#### $1000.", "#### 8", "It is 1000", "",
               "7 apples. Question: next one #### 9"]  # fmt: skip
    assert [f.name for f in ours._filters] == [f.name for f in reference._filters]
    for doc_ours, doc_ref in zip(ours.eval_docs, reference.eval_docs, strict=True):
        for text in outputs:
            for which in (0, 1):
                assert score(ours, doc_ours, text, which) == score(reference, doc_ref, text, which)


def _builtin(relative: str) -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent / relative


@pytest.mark.parametrize("name", ["math_graph", "math_synthetic_graph"])
def test_math_gold_scores_1_and_wrong_scores_0(tasks: dict[str, Any], name: str) -> None:
    task = tasks[name]
    for doc in list(task.eval_docs)[:40]:
        gold = doc["answer"]
        assert score(task, doc, f"Work.\nThe answer is: \\boxed{{{gold}}}") == 1.0
        assert score(task, doc, f"\\boxed{{0}} first, then \\boxed{{{gold}}}") == 1.0  # the last
        assert score(task, doc, f"The answer is: \\boxed{{{gold}+1}}") == 0.0
        assert score(task, doc, f"The answer is {gold}") == 0.0  # not boxed: no answer


def test_math_scores_equal_the_builtin_process_results(tasks: dict[str, Any]) -> None:
    """Our entry keeps hendrycks_math's own process_results; the filter only unboxes."""
    import lm_eval.tasks.hendrycks_math.utils as hendrycks

    task = tasks["math_graph"]
    assert task.config.process_results.__module__ == "lm_eval.tasks.hendrycks_math.utils"
    for doc in task.eval_docs:
        for inner in (doc["answer"], "\\frac12", "\\dfrac{1}{2}", "5", "0.5", "6"):
            expected = hendrycks.process_results(doc, [inner])["exact_match"]
            assert score(task, doc, f"so \\boxed{{{inner}}}") == expected


def test_the_paper_math_scorer_cuts_at_the_first_brace(tasks: dict[str, Any]) -> None:
    paper, robust = tasks["math_graph_paper"], tasks["math_graph"]
    half = next(d for d in paper.eval_docs if "frac" in d["solution"])
    assert paper.doc_to_target(half) == "\\frac{1"
    assert score(paper, half, "\\boxed{\\frac{1}{2}}") == 1.0
    assert score(paper, half, "\\boxed{\\frac{1}{3}}") == 1.0  # the paper's quirk
    assert score(robust, half, "\\boxed{\\frac{1}{3}}") == 0.0
    five = next(d for d in paper.eval_docs if "frac" not in d["solution"])
    assert score(paper, five, "\\boxed{5}") == 1.0
    assert score(paper, five, "\\boxed{5.0}") == 0.0  # plain equality: no normalisation
    assert score(robust, five, "\\boxed{5.0}") == 0.0 and score(robust, five, "\\boxed{ 5 }") == 1.0
