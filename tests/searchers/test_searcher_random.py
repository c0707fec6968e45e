import pytest

from searchers.random import RandomSearcher
from suite.core.errors import ConfigError
from suite.core.graph import FINAL
from suite.search.testing import SearcherContract, sim_observation


class TestRandomSearcher(SearcherContract):
    def make_searcher(self):
        return RandomSearcher()


class TestRandomSearcherLast(SearcherContract):
    def make_searcher(self):
        return RandomSearcher(recommend="last")


def test_best_is_the_highest_reward_and_last_is_last():
    contract = TestRandomSearcher()
    best = contract.started(seed=5)
    last = RandomSearcher(recommend="last")
    last.setup(contract.context(5))
    rewards = {}
    for _ in range(8):
        p, q = best.ask(), last.ask()
        assert p.graph == q.graph  # same seed, same proposals
        obs = sim_observation(p.graph, p, contract.space())
        rewards[p.graph] = max(rewards.get(p.graph, 0.0), obs.reward)
        best.tell(p, obs)
        last.tell(q, obs)
        final = q.graph
    assert rewards[best.recommend()] == max(rewards.values())
    assert last.recommend() == final


def test_proposals_fill_the_budget_with_paper_mixes():
    contract = TestRandomSearcher()
    searcher = contract.started(seed=0)
    space = contract.space()
    seen = set()
    for _ in range(30):
        p = searcher.ask()
        seen.add(tuple(p.info["mix"]))
        assert space.units(p.graph) == space.budget_units
        searcher.tell(p, sim_observation(p.graph, p, space))
    assert seen <= set(space.feasible_mixes()) and len(seen) >= 5


def test_bad_option():
    with pytest.raises(ConfigError, match="best"):
        RandomSearcher(recommend="median")


def test_orphans_are_linked_to_the_most_useful_node_not_all_to_final():
    """RandomOptimizedSwarm's make_all_nodes_useful (PAPER.md §8): every untrained p is 0.5,
    so an orphan links to the first node in candidate order that reaches final."""
    contract = TestRandomSearcher()
    searcher = contract.started(seed=0)
    space = contract.space()
    linked = []
    for _ in range(10):
        p = searcher.ask()
        for src, dst in p.info["linked"]:
            if src in p.graph.node_ids and dst in (*p.graph.node_ids, FINAL):
                assert (src, dst) in p.graph.edges
        if not p.info["deleted_by_repair"]:
            assert not p.graph.unused()  # every orphan found a node to feed
        linked += p.info["linked"]
        searcher.tell(p, sim_observation(p.graph, p, space))
    inner = [e for e in linked if e[1] != FINAL]
    assert inner and len(inner) > len(linked) // 2  # mostly into agent nodes, not final
