"""Task snapshots: a second load reads the questions without lm-eval, and any change to what
decides them (lm-eval's version, the entry's files, the data) gives a new snapshot."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import cache_with_data

from suite import config, prompts
from suite.app import cli
from suite.data import snapshot
from suite.data.tasks import TASKS_DIR, TaskAdapter


def task_config(name: str = "mmlu", **changes):
    conf = config.load(cli.compose([f"task={name}"]))
    return replace(conf.task, **changes)


def adapter(cfg, test_n: int = 5) -> TaskAdapter:
    return TaskAdapter(cfg, prompts.load(cfg.prompts), test_n)


class NoLmEval:
    """Stands in for TaskAdapter._load_task: fails the test if lm-eval's task is loaded."""

    def __init__(self):
        self.loads = 0

    def __call__(self, adapter_self):
        self.loads += 1
        raise AssertionError("lm-eval's task was loaded")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A fresh cache folder (snapshots are written there) that shares the prepared data."""
    folder = cache_with_data(tmp_path)
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(folder))
    return folder


@pytest.mark.parametrize("name", ["mmlu", "gsm8k_synthetic", "humaneval", "math_synthetic"])
def test_a_second_load_reads_the_snapshot_and_gives_the_same_task(home, monkeypatch, name):
    cfg = task_config(name)
    first = adapter(cfg)
    assert first._task is not None  # built from lm-eval the first time
    written = list((home / "tasks").glob(f"{name}-*.json"))
    assert len(written) == 1
    never = NoLmEval()
    monkeypatch.setattr(TaskAdapter, "_load_task", never)
    again = adapter(cfg)
    assert never.loads == 0 and again._task is None
    assert again.all_docs == first.all_docs
    assert [d.raw for d in again.all_docs] == [d.raw for d in first.all_docs]  # raw: no compare
    assert again.test_docs == first.test_docs and again.search_docs == first.search_docs
    assert again.describe() == first.describe()
    assert [again.target(d) for d in again.all_docs[:50]] == [
        str(first.task.doc_to_target(d.raw)) for d in first.all_docs[:50]
    ]
    assert again.key == first.key


def test_scoring_a_text_loads_the_task_on_first_use_and_scores_as_lm_eval(home):
    cfg = task_config("mmlu")
    built = adapter(cfg)
    again = adapter(cfg)
    assert again._task is None
    doc = again.test_docs[0]
    texts = [f"Answer: {again.target(doc)}", "Answer: Z", "no idea"]
    assert again.score_many([(doc, t) for t in texts]) == built.score_many(
        [(doc, t) for t in texts]
    )
    assert again._task is not None


def test_the_key_changes_with_the_entry_files_lm_eval_and_the_data(home, tmp_path, monkeypatch):
    include = tmp_path / "tasks"
    shutil.copytree(TASKS_DIR, include, ignore=shutil.ignore_patterns("__pycache__"))
    data_sha = "0" * 64
    base = snapshot.key_of("mmlu_graph", include, data_sha, home / "data")
    assert snapshot.key_of("mmlu_graph", include, data_sha, home / "data") == base
    (include / "utils.py").write_text((include / "utils.py").read_text() + "\n# changed\n")
    edited = snapshot.key_of("mmlu_graph", include, data_sha, home / "data")
    assert edited != base
    assert snapshot.key_of("mmlu_graph", include, "1" * 64, home / "data") != edited
    assert snapshot.key_of("gsm8k_graph", include, data_sha, home / "data") != edited
    real = snapshot.metadata.version
    for package in ("lm_eval", "datasets"):
        monkeypatch.setattr(
            snapshot.metadata,
            "version",
            lambda name, p=package: "0.0.0" if name == p else real(name),
        )
        assert snapshot.key_of("mmlu_graph", include, data_sha, home / "data") != edited


def test_an_edited_entry_is_loaded_from_lm_eval_again(home, tmp_path, monkeypatch):
    include = tmp_path / "tasks"
    shutil.copytree(TASKS_DIR, include, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = task_config("mmlu", include_path=str(include))
    adapter(cfg)
    (include / "mmlu.yaml").write_text((include / "mmlu.yaml").read_text() + "\n# edited\n")
    loaded = adapter(cfg)
    assert loaded._task is not None  # a new key: the task was loaded, a second snapshot written
    assert len(list((home / "tasks").glob("mmlu-*.json"))) == 2


def test_a_damaged_snapshot_is_rebuilt(home):
    cfg = task_config("mmlu")
    adapter(cfg)
    (path,) = (home / "tasks").glob("mmlu-*.json")
    whole = path.read_text()
    path.write_text(whole[: len(whole) // 2])  # cut off, as a full disk would leave it
    rebuilt = adapter(cfg)
    assert rebuilt._task is not None
    assert path.read_text() == whole


def test_rows_that_json_would_change_are_never_snapshotted(tmp_path):
    assert snapshot.survives_json(({"q": "x", "choices": ["a", "b"], "answer": 1, "p": 0.5},))
    assert not snapshot.survives_json(({"choices": ("a", "b")},))  # a tuple reads back a list
    assert not snapshot.survives_json(({1: "a"},))  # an int key reads back a string
    assert not snapshot.survives_json(({"when": object()},))
    snap = snapshot.TaskSnapshot(
        "k" * 64, ("q",), ("A",), ({"choices": ("a", "b")},), "exact_match", "f", (), False, None
    )
    path = tmp_path / "s.json"
    assert snapshot.save(snap, path) is False and not path.exists()
    ok = replace(snap, rows=({"choices": ["a", "b"]},))
    assert snapshot.save(ok, path) is True
    assert snapshot.load(path, "k" * 64) == ok
    assert snapshot.load(path, "other") is None
    data = json.loads(path.read_text())
    assert data["format"] == snapshot.FORMAT and data["docs"][0]["target"] == "A"


def test_a_copy_of_the_entries_with_the_same_bytes_shares_the_snapshot(home, tmp_path):
    include: Path = tmp_path / "mine"
    shutil.copytree(TASKS_DIR, include, ignore=shutil.ignore_patterns("__pycache__"))
    shipped = adapter(task_config("mmlu"))
    copied = adapter(task_config("mmlu", include_path=str(include)))
    assert copied.key == shipped.key and copied._task is None


def test_a_cache_folder_that_cannot_hold_snapshots_runs_without_one(home):
    (home / "tasks").write_text("not a folder")  # as a read-only shared cache refuses it
    loaded = adapter(task_config("mmlu"))
    assert loaded._task is not None and len(loaded.all_docs) == 1331
    assert (home / "tasks").read_text() == "not a folder"
