"""collab-graph: a saved graph as an lm-eval model, through simple_evaluate and lm-eval's CLI,
agreeing with suite.app.evaluate question for question."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import offline_env
from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager

from suite import config
from suite.app import cli, evaluate
from suite.app.lm_eval_model import GraphLM, suite_task_of
from suite.core.errors import ConfigError, DataError
from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.data.tasks import TASKS_DIR
from suite.engine import session
from suite.engine.loop import evaluate as run_graph_on
from suite.engine.results import load_graph

TASKS = TASKS_DIR  # the lm-eval entries: tasks/ in a checkout, suite/_tasks in a wheel
MID, SMALL = "llama-3.2-3b", "llama-3.2-1b"


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run's final.json holding a three-node graph."""
    graph = CollabGraph.build(
        [Node("n0", SMALL), Node("n1", MID), Node("n2", MID, Role.FUSER)],
        [("n0", "n2"), ("n1", "n2"), ("n2", FINAL)],
        MID,
    )
    path = tmp_path_factory.mktemp("run") / "final.json"
    path.write_text(json.dumps({"status": "completed", "graph": graph.to_dict()}))
    return path


@pytest.fixture(scope="module")
def manager() -> TaskManager:
    return TaskManager(include_path=str(TASKS), include_defaults=False)


def suite_scores(graph_file: Path, task: str) -> tuple[dict[int, float], float]:
    """Per-question test scores and the accuracy suite.app.evaluate reports for the graph."""
    overrides = ["searcher=random", f"task={task}"]
    sess = session.build(config.load(cli.compose(overrides)))
    try:
        docs = sess.task.test_docs
        result = run_graph_on(
            sess.executor, sess.task.score_many, load_graph(str(graph_file)), docs, "test"
        )
    finally:
        sess.close()
    by_index = {
        int(d.doc_id.rsplit("-", 1)[1]): s for d, s in zip(docs, result.scores, strict=True)
    }
    record = evaluate.run([f"graph={graph_file}", *overrides])
    return by_index, float(record["test_accuracy"])


@pytest.mark.slow  # lm-eval end to end on two tasks
@pytest.mark.parametrize(("task", "metric"), [("mmlu", "exact_match"), ("humaneval", "pass@1")])
def test_simple_evaluate_agrees_with_suite_evaluate(
    graph_file: Path, manager: TaskManager, task: str, metric: str
) -> None:
    expected, accuracy = suite_scores(graph_file, task)
    entry = f"{task}_graph"
    results = simple_evaluate(
        model="collab-graph",
        model_args={"graph": str(graph_file), "backend": "sim"},
        tasks=[entry],
        task_manager=manager,
        samples={entry: sorted(expected)},
        bootstrap_iters=0,
        log_samples=True,
        confirm_run_unsafe_code=True,
    )
    assert results is not None
    got = {int(s["doc_id"]): float(s[metric]) for s in results["samples"][entry]}
    assert got == expected
    filter_name = manager.load([entry])["tasks"][entry]._filters[0].name
    assert results["results"][entry][f"{metric},{filter_name}"] == pytest.approx(accuracy)


def test_loglikelihood_requests_get_a_clear_error(graph_file: Path) -> None:
    model = GraphLM(graph=str(graph_file))
    request = SimpleNamespace(task_name="mmlu_mc", args=("Question?", " A"))
    with pytest.raises(ConfigError, match="writes text and has no log-likelihoods; task mmlu_mc"):
        model.loglikelihood([request])
    with pytest.raises(ConfigError, match="generate_until entry such as mmlu_graph"):
        model.loglikelihood_rolling([request])


def test_bad_model_args_and_graphs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no model_args \['graf'\]"):
        GraphLM(graph="single:llama-3.2-3b", graf="x")
    with pytest.raises(DataError, match="does not exist"):
        GraphLM(graph=str(tmp_path / "missing.json"))
    failed = tmp_path / "final.json"
    failed.write_text(json.dumps({"status": "failed"}))
    with pytest.raises(DataError, match="holds no graph"):
        GraphLM(graph=str(failed))
    assert GraphLM(graph="single:llama-3.2-3b", batch_size=1, device="cpu").graph.nodes == ()
    assert suite_task_of("gsm8k_synthetic_graph") == "gsm8k_synthetic"
    assert suite_task_of("humaneval_graph_paper") == "humaneval"
    with pytest.raises(ConfigError, match="<task>_graph"):
        suite_task_of("gsm8k")


@pytest.mark.slow
def test_a_fresh_interpreter_finds_the_model_by_name() -> None:
    """The installed .pth hook registers collab-graph as soon as lm-eval's registry loads."""
    code = (
        "import sys; from lm_eval.api.registry import get_model; "
        "assert 'suite.app.lm_eval_model' not in sys.modules; "  # lazy until used
        "print(get_model('collab-graph').__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=offline_env(), capture_output=True, text=True, cwd="/"
    )
    assert done.returncode == 0 and done.stdout.strip() == "GraphLM", (
        f"{done.stderr[-800:]}\n(is the package installed with its .pth? pip install -e .)"
    )


@pytest.mark.slow
def test_lm_evals_own_cli_runs_collab_graph(graph_file: Path, tmp_path: Path) -> None:
    """The issue's command, verbatim but for the paths; the score equals the suite's."""
    lm_eval = Path(sys.executable).parent / "lm_eval"
    cmd = [
        str(lm_eval), "--model", "collab-graph",
        "--model_args", f"graph={graph_file},backend=sim",
        "--include_path", str(TASKS), "--tasks", "mmlu_graph", "--limit", "20",
    ]  # fmt: skip
    done = subprocess.run(cmd, env=offline_env(), capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(ln for ln in done.stdout.splitlines() if ln.startswith("|mmlu_graph"))
    value = float(re.split(r"\s*\|\s*", row)[7])
    sess = session.build(config.load(cli.compose(["searcher=random", "task=mmlu"])))
    try:
        docs = [sess.task.doc_at(i) for i in range(20)]
        result = run_graph_on(
            sess.executor, sess.task.score_many, load_graph(str(graph_file)), docs, "test"
        )
    finally:
        sess.close()
    assert value == pytest.approx(sum(result.scores) / 20, abs=1e-4)


@pytest.mark.slow
def test_requests_for_other_data_are_refused(graph_file: Path) -> None:
    model = GraphLM(graph=str(graph_file))
    request: Any = SimpleNamespace(
        task_name="mmlu_graph", doc_id=3, doc={"question": "other data"}, args=("", {})
    )
    with pytest.raises(DataError, match="not among the suite's questions"):
        model.generate_until([request])
    model.close()
