"""The pilot: a task-level study on the search split, cached, reused, never charged to a search."""

import hashlib
import json

import numpy as np
import pytest

from suite import config
from suite.app import cli
from suite.app import pilot as pilot_cli
from suite.app.run import main as run_main
from suite.config import space_of
from suite.engine import pilot, session
from suite.search.pilot_plan import pilot_rows
from suite.sim import identity


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


def test_key_carries_the_pilot_version_and_the_sim_world(monkeypatch):
    base = pilot.key_of(conf_of(), 100)
    assert base["pilot_version"] == pilot.PILOT_VERSION
    assert base["sim_world"] == identity.world_digest("llama3") != "missing"
    gemma = pilot.key_of(conf_of("backend.profile=llama3_gemma"), 100)
    assert gemma["sim_world"] == identity.world_digest("llama3_gemma") != base["sim_world"]
    monkeypatch.setattr(pilot, "PILOT_VERSION", pilot.PILOT_VERSION + 1)
    assert pilot.digest_of(pilot.key_of(conf_of(), 100)) != pilot.digest_of(base)
    monkeypatch.undo()
    monkeypatch.setattr(identity, "world_digest", lambda profile: "refit")
    refit = pilot.key_of(conf_of(), 100)
    assert refit["sim_world"] == "refit" and pilot.digest_of(refit) != pilot.digest_of(base)


def test_the_pilot_plan_is_pinned_to_its_version():
    """If this fails, the pilot measures other graphs now: bump pilot.PILOT_VERSION (so no
    cached pilot of the old plan is reused) and pin the new plan's digest here."""
    rows = pilot_rows(space_of(conf_of()), np.random.default_rng(pilot.PILOT_SEED))
    text = json.dumps([[kind, str(label), graph.digest] for kind, label, graph in rows])
    plan = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert (pilot.PILOT_VERSION, plan) == (2, "ad309482ef61baf2"), "bump pilot.PILOT_VERSION"


def stored(cache, key, body_of=None, **fields):
    """Write a cached pilot body measured for ``body_of`` (default ``key``) at ``key``'s path."""
    body_key = key if body_of is None else body_of
    body = pilot.Pilot(body_key, pilot.digest_of(body_key), {"m": 0.5}, (), ("d1",), {}).as_dict()
    body.update(fields)
    (cache / "pilot").mkdir(parents=True, exist_ok=True)
    path = cache / "pilot" / f"{pilot.digest_of(key)}.json"
    path.write_text(json.dumps(body))
    return path


def test_a_cached_pilot_of_another_version_world_or_format_is_not_reused(cache):
    key = pilot.key_of(conf_of(), 100)
    mine = stored(cache, key)
    found = pilot.load(key)
    assert found is not None and found.singles == {"m": 0.5} and found.digest == mine.stem
    mine.unlink()
    for other in ({"pilot_version": 1}, {"sim_world": "0" * 16}):
        stored(cache, dict(key, **other))  # measured by the older procedure, or the old world
        assert pilot.load(dict(key, **other)) is not None and pilot.load(key) is None
    # A stale file under the current digest, its body measured for another key (as the
    # unversioned cache was), or of another format, or not a pilot, is measured anew.
    old = {k: v for k, v in key.items() if k not in ("pilot_version", "sim_world")}
    stored(cache, key, body_of=old, digest=pilot.digest_of(key))
    assert pilot.load(key) is None
    stored(cache, key, format=pilot.FORMAT + 1)
    assert pilot.load(key) is None
    mine.write_text("[1, 2]")
    assert pilot.load(key) is None


def test_a_refit_of_the_sim_world_measures_a_new_pilot(cache, monkeypatch):
    conf = conf_of()
    before = pilot.key_of(conf, 100)
    stored(cache, before)
    monkeypatch.setattr(identity, "world_digest", lambda profile: "refit-of-" + profile)
    after = pilot.key_of(conf, 100)
    assert after["sim_world"] == "refit-of-llama3" and pilot.load(after) is None


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
