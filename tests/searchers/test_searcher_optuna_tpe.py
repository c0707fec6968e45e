import json

import numpy as np
import pytest

from searchers.optuna_tpe import OptunaTpeSearcher
from suite.core.errors import ConfigError
from suite.search.searcher import SearchContext
from suite.search.testing import SearcherContract, contract_space, sim_observation


class TestOptunaTpeSearcher(SearcherContract):
    def make_searcher(self):
        return OptunaTpeSearcher()


class TestOptunaTpeSearcherModelled(SearcherContract):
    """Two random trials, then TPE proper: the state round trip must continue TPE exactly."""

    n_iterations = 8

    def make_searcher(self):
        return OptunaTpeSearcher(n_startup_trials=2)


class TestOptunaTpeSearcherMixSearch(SearcherContract):
    def make_searcher(self):
        return OptunaTpeSearcher(fixed_mix="search", n_startup_trials=2, recommend="last")


def context(seed=0, n_iterations=6, batch_size=3):
    space = contract_space()
    budget = n_iterations * batch_size
    return SearchContext(space, np.random.default_rng(seed), n_iterations, batch_size, budget)


def started(seed=0, n_iterations=6, **options):
    searcher = OptunaTpeSearcher(**options)
    searcher.setup(context(seed, n_iterations))
    return searcher


def drive(searcher, steps):
    proposals = []
    for _ in range(steps):
        p = searcher.ask()
        if p is None:
            break
        searcher.tell(p, sim_observation(p.graph, p, contract_space()))
        proposals.append(p)
    return proposals


def test_paper_setting_one_mix_all_variables_and_repairs_recorded():
    space = contract_space()
    searcher = started(seed=1)
    proposals = drive(searcher, 6)
    mixes = {tuple(p.info["mix"]) for p in proposals}
    assert len(mixes) == 1 and mixes <= set(space.feasible_mixes())
    (mix,) = mixes
    k = sum(mix)
    trial = searcher.study.trials[0]
    assert sum(name.startswith("role_") for name in trial.params) == k
    assert sum(name.startswith("edge_") for name in trial.params) == k * (k - 1) + k
    assert "mix" not in trial.params
    assert "resumed" not in proposals[0].info  # a fresh study
    for p in proposals:
        assert space.mix_of(p.graph) == mix or p.info["deleted_by_repair"]
        assert p.n_docs == 3
        json.dumps(dict(p.info))
    assert any(p.info["cycle_edges_skipped"] for p in proposals)  # binary edges at 0.5


def test_mix_search_and_questions_per_trial():
    searcher = started(seed=2, n_iterations=20, fixed_mix="search", questions_per_trial=2)
    proposals = drive(searcher, 30)
    assert len(proposals) == 30  # budget 20 x 3 = 60 questions, 2 per trial
    assert all(p.n_docs == 2 for p in proposals)
    assert len({tuple(p.info["mix"]) for p in proposals}) >= 3
    assert searcher.ask() is None  # the budget is spent


def test_best_is_the_best_trial_and_last_is_last():
    best, last = started(seed=3), started(seed=3, recommend="last")
    a, b = drive(best, 6), drive(last, 6)
    assert [p.graph for p in a] == [p.graph for p in b]
    rewards = [t.value for t in best.study.trials]
    assert best.recommend() == a[int(np.argmax(rewards))].graph
    assert last.recommend() == b[-1].graph


@pytest.mark.slow
def test_sqlite_storage_resumes(tmp_path):
    url = f"sqlite:///{tmp_path}/tpe.db"
    first = started(seed=4, storage=url, n_startup_trials=2)
    done = drive(first, 3)
    assert [p.number for p in done] == [0, 1, 2]

    again = started(seed=4, storage=url, n_startup_trials=2)  # the same command, rerun
    assert again.study_name == first.study_name == "optuna_tpe-mmlu-u12-random-s4"
    finished = [t for t in again.study.trials if t.state.is_finished()]
    assert len(finished) == 3
    more = drive(again, 10)
    assert [p.number for p in more] == [3, 4, 5]  # numbering continues; 6 x 3 = the budget
    assert more[0].info["resumed"]["study_trials_before"] == 3
    assert {tuple(p.info["mix"]) for p in done + more} == {tuple(done[0].info["mix"])}
    assert [t.number for t in again.study.trials] == list(range(6))
    assert started(seed=4, storage=url).ask() is None  # a finished study proposes nothing


def test_journal_storage_and_orphaned_trials(tmp_path):
    url = f"journal:///{tmp_path}/sub/tpe.log"
    first = started(seed=5, storage=url)
    drive(first, 2)
    first.ask()  # asked, never told: the process "died"
    again = started(seed=5, storage=url)
    p = again.ask()
    assert p.number == 3 and p.info["resumed"]["orphans_failed"] == [2]
    assert again.study.trials[2].state.name == "FAIL"
    again.tell(p, sim_observation(p.graph, p, contract_space()))
    # the failed trial spent no questions: 2 + 4 trials of 3 fill the budget of 18
    assert [q.number for q in drive(again, 10)] == [4, 5, 6]


@pytest.mark.slow
def test_state_round_trips_with_storage(tmp_path):
    original = started(seed=6, storage=f"sqlite:///{tmp_path}/a.db", n_startup_trials=2)
    drive(original, 3)
    state = json.loads(json.dumps(original.state()))
    restored = started(seed=60, storage=f"sqlite:///{tmp_path}/b.db", n_startup_trials=2)
    restored.load_state(state)
    assert len(restored.study.trials) == 3
    a, b = drive(original, 3), drive(restored, 3)
    assert [p.graph for p in a] == [p.graph for p in b]


def test_default_study_name_follows_the_run_seed():
    seq = np.random.SeedSequence(0).spawn(2)[0]  # as suite.app.run spawns the searcher's generator
    space = contract_space()
    searcher = OptunaTpeSearcher(fixed_mix="search")
    searcher.setup(SearchContext(space, np.random.default_rng(seq), 6, 3, 18))
    assert searcher.study_name == "optuna_tpe-mmlu-u12-search-s0"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"fixed_mix": "fixed"}, "fixed_mix"),
        ({"questions_per_trial": 0}, "questions_per_trial"),
        ({"storage": "postgresql://x"}, "sqlite:///"),
        ({"study_name": " "}, "study_name"),
        ({"recommend": "median"}, "best"),
        ({"n_startup_trials": -1}, "n_startup_trials"),
        ({"nosuch": 1}, "nosuch"),
    ],
)
def test_bad_options_are_one_line_config_errors(options, match):
    with pytest.raises(ConfigError, match=match) as info:
        OptunaTpeSearcher(**options)
    assert "\n" not in str(info.value)
