"""The sim backend on every task: the task's own scorer agrees with the simulator's truth,
answer keys are deterministic and sized by the profile, profiles are calibrated, splits hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import run_cli

from suite import config
from suite.app import cli
from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.core.topologies import parallel
from suite.engine import session
from suite.engine.loop import evaluate
from suite.sim.world import GOLD, expected_accuracy, load_profiles, run_graph, text_key

MID, BIG, SMALL = "llama-3.2-3b", "llama-3.1-8b", "llama-3.2-1b"
NEW_TASKS = ["gsm8k_synthetic", "math_synthetic", "humaneval"]


def build(*overrides: str) -> Any:
    return session.build(config.load(cli.compose(["searcher=random", *overrides])))


@pytest.fixture(scope="module")
def sessions() -> dict[str, Any]:
    built = {task: build(f"task={task}") for task in NEW_TASKS}
    yield built
    for sess in built.values():
        sess.close()


def graphs() -> list[CollabGraph]:
    mixed = CollabGraph.build(
        [Node("n0", SMALL), Node("n1", MID), Node("n2", MID, Role.FUSER)],
        [("n0", "n2"), ("n1", "n2"), ("n2", FINAL), ("n0", FINAL)],
        MID,
    )
    return [mixed, parallel([SMALL, SMALL, MID], MID)]


@pytest.mark.parametrize("task", NEW_TASKS)
def test_text_path_agrees_with_the_id_level_world(sessions: dict[str, Any], task: str) -> None:
    """Text written by the sim, scored by the task's own filter and metric (HumanEval: run in
    the sandbox), equals the simulator's truth question for question."""
    sess = sessions[task]
    docs = sess.task.test_docs
    keys = np.array([text_key(d.doc_id) for d in docs], dtype=np.uint64)
    for graph in graphs():
        result = evaluate(sess.executor, sess.task.score_many, graph, docs, "test")
        expected = (run_graph(sess.backend.world, graph, keys) == GOLD).astype(float)
        assert list(result.scores) == list(expected)


@pytest.mark.parametrize("task", NEW_TASKS)
def test_answer_keys_are_deterministic_distinct_and_sized_by_the_profile(
    sessions: dict[str, Any], task: str
) -> None:
    sess = sessions[task]
    k = load_profiles("llama3")[task].n_distractors
    for doc in sess.task.search_docs[:25]:
        key = sess.task.answer_key(doc.doc_id, k)
        assert len(key.distractors) == k and len({key.gold, *key.distractors}) == k + 1
        assert key == sess.task._answer_key(doc, k)  # recomputed, not just cached
    if task == "gsm8k_synthetic":
        key = sess.task.answer_key(sess.task.search_docs[0].doc_id, k)
        assert all(d.lstrip("-").replace(".", "").isdigit() for d in key.distractors)


@pytest.mark.parametrize(
    ("task", "targets"),
    [("gsm8k", (0.444, 0.777, 0.845, 0.951)), ("gsm8k_synthetic", (0.40, 0.72, 0.80, 0.93)),
     ("math_synthetic", (0.31, 0.40, 0.49, 0.68))],
)  # fmt: skip
def test_new_profiles_match_their_targets_within_2_points(
    task: str, targets: tuple[float, ...]
) -> None:
    from suite.sim.world import SimWorld

    world = SimWorld(task, load_profiles("llama3")[task], 0)
    for model, target in zip((SMALL, MID, BIG, "llama-3.1-70b"), targets, strict=True):
        acc = expected_accuracy(world, CollabGraph.single(model), 4000)
        assert abs(acc - target) <= 0.02, (task, model, acc)


def test_math_synthetic_reuses_maths_calibration() -> None:
    """Same task structure and single-model targets as MATH; its behaviour is fitted on its own."""
    import yaml

    from suite.sim.world import PROFILE_DIR

    profiles = load_profiles("llama3")
    math, synthetic = profiles["math"], profiles["math_synthetic"]
    structure = ("input_tokens", "output_tokens", "difficulty_sd", "same_model_corr")
    structure += ("n_distractors", "distractor_power", "multiple_choice")
    assert all(getattr(math, k) == getattr(synthetic, k) for k in structure)
    tasks = yaml.safe_load((PROFILE_DIR / "llama3.yaml").read_text())["tasks"]
    assert tasks["math"]["target"] == tasks["math_synthetic"]["target"]


def test_humaneval_splits_80_20(sessions: dict[str, Any]) -> None:
    task = sessions["humaneval"].task
    test_ids = {d.doc_id for d in task.test_docs}
    search_ids = {d.doc_id for d in task.search_docs}
    assert (len(search_ids), len(test_ids)) == (131, 33) and not test_ids & search_ids
    assert task.describe()["sandbox"]["separate_process"] is True
    smaller = build("task=humaneval", "test_n=10").task
    assert len(smaller.test_docs) == 10
    assert [d.doc_id for d in smaller.test_docs] == [d.doc_id for d in task.test_docs][:10]


@pytest.mark.slow
def test_a_run_on_humaneval_end_to_end(tmp_path: Path) -> None:
    done = run_cli("suite.run", "searcher=random", "task=humaneval", f"results_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "n=33)" in done.stdout


@pytest.mark.slow
def test_real_gsm8k_without_its_data_is_one_line_exit_2(tmp_path: Path) -> None:
    cache = str(tmp_path / "empty-cache")  # even where the user has prepared GSM8K
    done = run_cli(
        "suite.run",
        "searcher=random",
        "task=gsm8k",
        f"results_dir={tmp_path}",
        env={"TTSGB_CACHE_DIR": cache},
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert lines[-1].startswith("error: gsm8k needs the Hugging Face Hub")
    assert "source/test.jsonl" in lines[-1] and "prepare gsm8k" in lines[-1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "stand_in"), [("gsm8k", "gsm8k_synthetic"), ("math", "math_synthetic")]
)
def test_real_tasks_run_on_a_users_copy(tmp_path: Path, task: str, stand_in: str) -> None:
    """With the user's own test file (here: the stand-in's rows), task=gsm8k / task=math run."""
    from suite.data import cache as data

    rows = data.load_rows(data.prepare(stand_in).name)
    keys = ("question", "answer") if task == "gsm8k" else ("problem", "level", "type", "solution")
    source = tmp_path / "cache" / "data" / task / "source" / "test.jsonl"
    source.parent.mkdir(parents=True)
    source.write_text("".join(json.dumps({k: r[k] for k in keys}) + "\n" for r in rows))
    done = run_cli("suite.run", "searcher=random", f"task={task}", f"results_dir={tmp_path}",
                   env={"TTSGB_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    final = json.loads(next(tmp_path.glob(f"{task}/random/*/final.json")).read_text())
    assert final["status"] == "completed" and final["test_n"] == 100
    assert final["task_info"]["dataset"]["source"] == f"your file {source}"
