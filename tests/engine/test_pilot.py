"""The pilot: a task-level study on the search split, cached, reused, never charged to a search."""

import json

import pytest

from suite import config
from suite.app import cli
from suite.app import pilot as pilot_cli
from suite.app.run import main as run_main
from suite.engine import pilot, session


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def conf_of(*overrides):
    return config.load(cli.compose(list(overrides)))


def test_key_names_task_pool_backend_revisions_and_budget():
    base = pilot.key_of(conf_of(), 100)
    assert base["task"] == "mmlu" and base["pool"] == "llama3" and base["backend"] == "sim"
    assert {m["revision"] for m in base["models"]} == {"main"}
    digest = pilot.digest_of(base)
    assert pilot.digest_of(pilot.key_of(conf_of("seed=5", "searcher=random"), 100)) == digest
    for other in (["task=math"], ["budget=u24"], ["backend.world_seed=1"]):
        assert pilot.digest_of(pilot.key_of(conf_of(*other), 100)) != digest
    revised = dict(base, models=[dict(m, revision="abc") for m in base["models"]])
    assert pilot.digest_of(revised) != digest


@pytest.mark.slow
def test_measured_once_on_the_search_split_then_read_from_the_cache(cache):
    conf = conf_of("searcher.pilot_questions=40")
    sess = session.build(conf)
    said = []
    try:
        first, cached = pilot.ensure(sess, conf, said.append)
        assert not cached and len(said) == 1 and "pilot: measuring mmlu" in said[0]
        search = {d.doc_id for d in sess.task.search_docs}
        test = {d.doc_id for d in sess.task.test_docs}
        assert len(first.doc_ids) == 40 and set(first.doc_ids) <= search
        assert not set(first.doc_ids) & test  # never the test split
        assert list(first.singles) == ["llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b"]
        assert [m for m, _, _ in first.mixes] == list(sess.space.feasible_mixes())
        rows = len(first.singles) + len(first.mixes)
        assert first.cost["question_evals"] == 40 * rows and first.cost["graph_evals"] == rows
        assert first.cost["calls"] > first.cost["question_evals"] and first.cost["flops"] > 0
        assert sess.meter.tally("search").question_evals == 0  # not the run's meter
        again, cached = pilot.ensure(sess, conf, said.append)
        assert cached and len(said) == 1 and again == first
    finally:
        sess.close()
    assert (cache / "pilot" / f"{first.digest}.json").is_file()


@pytest.mark.slow
def test_the_cli_builds_then_shows_the_cached_pilot(cache, capsys):
    assert pilot_cli.main(["task=humaneval", "searcher.pilot_questions=20"]) == 0
    out, err = capsys.readouterr()
    assert "pilot: measuring humaneval" in err and "single llama-3.1-8b" in out
    assert "random graph, mix" in out and "(cached)" not in out
    assert pilot_cli.main(["task=humaneval", "searcher.pilot_questions=20"]) == 0
    out, err = capsys.readouterr()
    assert "(cached)" in out and "measuring" not in err
    assert pilot_cli.main(["task=nope"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown task")


def run_final(results, *overrides):
    assert run_main([f"results_dir={results}", *overrides]) == 0
    (final,) = results.glob("*/*/*/final.json")
    return final


@pytest.mark.slow
def test_a_run_builds_the_pilot_first_and_records_it_apart_from_the_search(cache, tmp_path, capsys):
    final = run_final(tmp_path / "a", "searcher.pilot_questions=30", "test_n=10")
    err = capsys.readouterr().err
    assert err.count("pilot: measuring") == 1
    record = json.loads(final.read_text())
    prior = record["pilot"]
    assert prior["cached"] is False and prior["questions"] == 30
    assert prior["question_evals"] == 30 * prior["rows"] and prior["calls"] > 0
    assert set(prior["singles"]) == {"llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b"}
    assert len(prior["mix_accuracy"]) == prior["rows"] - 3  # recorded with the run
    assert record["budget"] == {
        "search_question_evals": 40,
        "loop_question_evals": 30,
        "pretest_question_evals": 10,
        "extra_question_evals": 0,
        "prior_question_evals": prior["question_evals"],
    }
    assert record["question_evals"] <= 40  # the pilot is not in the search's evaluations
    trials = [json.loads(x) for x in (final.parent / "trials.jsonl").read_text().splitlines()]
    assert all(t["info"]["phase"] in ("pretest", "loop") for t in trials)
    assert [t["iteration"] for t in trials if t["info"]["phase"] == "loop"] == list(range(10))
    other = run_final(tmp_path / "b", "searcher.pilot_questions=30", "test_n=10", "seed=3")
    assert "pilot: measuring" not in capsys.readouterr().err  # reused by every seed
    assert json.loads(other.read_text())["pilot"]["cached"] is True


@pytest.mark.slow
def test_other_searchers_have_no_pilot_and_can_get_its_evaluations_as_extra_budget(cache, tmp_path):
    final = run_final(tmp_path, "searcher=random", "budget.extra_question_evals=60", "test_n=10")
    record = json.loads(final.read_text())
    assert record["pilot"] is None and not (cache / "pilot").exists()
    assert record["budget"]["search_question_evals"] == 100
    assert record["question_evals"] == 100  # random spends the whole equal total budget
