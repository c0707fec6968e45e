"""Tests for the surrogate fitted from real runs (suite.sim.surrogate, python -m suite.simfit)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from suite.app import simfit
from suite.core.graph import CollabGraph
from suite.core.topologies import chain, parallel
from suite.sim import surrogate
from suite.sim.records import Record, export_rows, load_records
from suite.sim.world import _read_profiles

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_cpu_runs"
S, G = "smollm2-135m", "gemma-3-270m"
TASK = "arith_synthetic"


def graphs() -> list[CollabGraph]:
    """Graphs of the tiny pool's shapes: singles, fan-ins of either model, chains, mixes."""
    return [
        CollabGraph.single(S),
        parallel([G], S),
        parallel([S] * 3, S),
        parallel([G] * 3, S),
        parallel([S, G] * 2, S),
        parallel([S] * 6, S),
        chain([S] * 3, S),
        chain([G, S], S),
        parallel([G] * 6 + [S] * 2, S),
    ]


def records_from(profile: Any, gs: list[CollabGraph], n: int = 1000) -> list[Record]:
    """Records whose accuracies are the profile's expected accuracies (no sampling noise)."""
    acc = surrogate.predict(TASK, profile, gs, 400)
    out = []
    for k, (g, a) in enumerate(zip(gs, acc, strict=True)):
        right = round(float(a) * n)
        scores = tuple([1.0] * right + [0.0] * (n - right))
        out.append(
            Record(g, tuple(f"q{i}" for i in range(n)), scores, f"syn{k}", "search", n, right / n)
        )
    return out


@pytest.mark.slow
def test_a_fit_on_data_from_a_known_profile_recovers_it() -> None:
    """Noise-free accuracies of a known profile: the fit reproduces them and the abilities' order.

    Graph accuracies do not identify every behaviour parameter (a larger vote weight and a
    smaller refine gain can give the same curves), so the check is on what the data pin down:
    the predictions (within 2.5 points RMS, against 7.9 points of sampling noise at 40 real
    questions) and which model is the strong one.
    """
    base = surrogate.starting_profile(60, 8, {S: 4096, G: 4096})
    truth = surrogate.apply(
        base, {f"ability.{S}": 0.4, f"ability.{G}": -1.5, "vote_weight": 2.0, "mislead": 1.0}
    )
    records = records_from(truth, graphs())
    result = surrogate.fit(TASK, base, records, max_evaluations=300, n_questions=400)
    measured = np.array([r.accuracy for r in records])
    start = surrogate.predict(TASK, base, [r.graph for r in records], 400)
    assert np.mean((start - measured) ** 2) > 10 * result.loss  # the fit moved somewhere real
    assert np.sqrt(result.loss) < 0.025
    assert result.values[f"ability.{S}"] - result.values[f"ability.{G}"] > 1.0


def test_spearman_matches_a_hand_computed_value() -> None:
    assert surrogate.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert surrogate.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties take average ranks: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4)
    assert surrogate.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)
    assert np.isnan(surrogate.spearman([1, 1, 1], [1, 2, 3]))


def test_from_a_recorded_fixture_writes_a_loadable_profile(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "tiny_cpu.yaml"
    args = ["--from", str(FIXTURE), "--folds", "2", "--max-evaluations", "12", "--out", str(out)]
    assert simfit.main(args) == 0
    printed = capsys.readouterr().out
    assert "real graph evaluations of tiny_cpu on arith_synthetic" in printed
    assert "Spearman rho" in printed and "MAE" in printed
    doc = yaml.safe_load(out.read_text())
    n_trials = sum(1 for p in FIXTURE.rglob("trials.jsonl") for _ in p.open())
    n_finals = len(list(FIXTURE.rglob("final.json")))
    assert doc["fit"]["graph_evaluations"] == n_trials + n_finals
    assert len(doc["fit"]["residuals"]) == n_trials + n_finals
    assert set(doc["fit"]["held_out"]) >= {"spearman_rho", "mae"}
    profile = _read_profiles(str(out), 0)[TASK]
    assert set(profile.models) == {S, G}
    assert out.read_text().startswith("# Simulated-world profile of the tiny_cpu pool, FITTED")


def test_export_round_trips_to_the_same_records(tmp_path: Path) -> None:
    task, records = load_records(FIXTURE, "tiny_cpu", None)
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(x + "\n" for x in export_rows(records, "tiny_cpu", task, "vllm")))
    task2, again = load_records(path, "tiny_cpu", None)
    assert task2 == task == TASK
    assert [(r.graph, r.doc_ids, r.scores, r.split) for r in again] == [
        (r.graph, r.doc_ids, r.scores, r.split) for r in records
    ]


def _run_folder(root: Path, **fields: Any) -> None:
    row = {
        "backend": "vllm", "simulated": False, "pool": "tiny_cpu", "task": TASK,
        "graph": CollabGraph.single(S).to_dict(), "doc_ids": ["a", "b"], "scores": [1.0, 0.0],
        **fields,
    }  # fmt: skip
    folder = root / TASK / "random" / "run-s0"
    folder.mkdir(parents=True)
    (folder / "trials.jsonl").write_text(json.dumps(row) + "\n")


@pytest.mark.parametrize(
    ("fields", "pool", "message"),
    [
        (None, "tiny_cpu", "no real graph evaluations found under"),
        (
            {"backend": "sim", "simulated": True},
            "tiny_cpu",
            "is a sim run (backend=sim), not a real one",
        ),
        ({"pool": "llama3"}, "tiny_cpu", "is a run of pool 'llama3', not 'tiny_cpu'"),
        ({}, "llama3", "is a run of pool 'tiny_cpu', not 'llama3'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: Any, fields: dict[str, Any] | None, pool: str, message: str
) -> None:
    if fields is not None:
        _run_folder(tmp_path, **fields)
    assert simfit.main(["--from", str(tmp_path), "--pool", pool]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_source_and_bad_folds_are_one_line(tmp_path: Path, capsys: Any) -> None:
    assert simfit.main(["--from", str(tmp_path / "nope")]) == 2
    assert "no such folder or file" in capsys.readouterr().err
    assert simfit.main(["--from", str(FIXTURE), "--folds", "1"]) == 2
    assert "--folds must be at least 2" in capsys.readouterr().err


def test_without_from_it_is_the_llama3_fit_command(monkeypatch: Any) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(simfit.simfit_llama, "main", lambda argv: seen.append(argv) or 0)
    assert simfit.main(["--pool", "llama3"]) == 0
    assert seen == [["--pool", "llama3"]]


def test_apply_sets_abilities_shared_drift_and_task_fields() -> None:
    base = surrogate.starting_profile(60, 8, {S: 4096, G: 4096})
    prof = surrogate.apply(base, {f"ability.{G}": -2.0, "drift": 0.2, "vote_weight": 3.0})
    assert prof.models[G].ability == -2.0 and prof.models[S].ability == base.models[S].ability
    assert prof.models[S].drift == prof.models[G].drift == 0.2
    assert prof.vote_weight == 3.0 and replace(prof, vote_weight=1.0) == replace(
        base, models=prof.models
    )


def _evaluate_record(root: Path, model: str, accuracy: float) -> None:
    """A ``suite.evaluate`` record as it writes them (no pool, no per-question scores)."""
    folder = root / TASK / "single"
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "task": TASK, "backend": "vllm", "simulated": False,
        "graph": CollabGraph.single(model).to_dict(), "test_accuracy": accuracy, "test_n": 100,
    }  # fmt: skip
    (folder / f"vllm-{model}-n100.json").write_text(json.dumps(record))


def test_evaluate_records_count_with_their_accuracy_and_question_count(tmp_path: Path) -> None:
    _run_folder(tmp_path)
    _evaluate_record(tmp_path, S, 0.45)
    task, records = load_records(tmp_path, "tiny_cpu", None, [S, G])
    single = [r for r in records if r.split == "single"]
    assert task == TASK and len(records) == 2 and len(single) == 1
    assert (single[0].n, single[0].accuracy, single[0].scores) == (100, 0.45, ())
    alone = tmp_path / "alone"
    _evaluate_record(alone, S, 0.45)
    with pytest.raises(surrogate.DataError, match=r"run of other models \['smollm2-135m'\]"):
        load_records(alone, "llama3", None, ["llama-3.2-1b"])
