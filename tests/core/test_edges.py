"""The shared edge walk and the official rule that links nodes which cannot reach final."""

import pytest

from suite.core.edges import EdgeWalk, link_orphans
from suite.core.graph import FINAL, CollabGraph, Node
from suite.search.testing import contract_space

SMALL = "llama-3.2-1b"


def walk_of(space, nodes, edges):
    graph = CollabGraph.build([Node(i, SMALL) for i in nodes], edges, space.final_model)
    return EdgeWalk.of(space, graph)


def table(probs, default):
    return lambda src, dst: probs.get((src, dst), default)


def test_orphans_link_to_the_most_probable_useful_node_not_to_final():
    """make_all_nodes_useful: the likeliest edge into a node that reaches final wins."""
    space = contract_space("mmlu", 4)
    walk = walk_of(space, ["n0", "n1", "n2", "n3"], [("n0", FINAL), ("n1", FINAL), ("n2", "n3")])
    probs = {("n2", "n1"): 0.6, ("n2", "n0"): 0.7, ("n2", FINAL): 0.5, ("n3", FINAL): 0.3}
    added = link_orphans(walk, table(probs, 0.1))
    # n2 already feeds the orphan n3, so it is an orphan too; n2 -> n0 is its likeliest link
    assert added == [("n2", "n0"), ("n3", FINAL)]
    assert all(walk.reaches(i, FINAL) for i in ["n0", "n1", "n2", "n3"])


def test_ties_go_to_the_earlier_candidate_and_cycles_give_way():
    """Untrained logits (every p = 0.5): the first useful node in candidate order."""
    space = contract_space("mmlu", 4)
    walk = walk_of(space, ["n0", "n1", "n2", "n3"], [("n2", FINAL), ("n1", "n0")])
    added = link_orphans(walk, table({}, 0.5))
    # n1 reaches final through n0 once n0 is linked: no extra edge; n3 takes the first, n0
    assert added == [("n0", "n2"), ("n3", "n0")]
    cyclic = walk_of(space, ["n0", "n1"], [("n1", FINAL), ("n1", "n0")])
    # n0's best, n0 -> n1, would close a cycle: the next likeliest useful node is final
    assert link_orphans(cyclic, table({("n0", "n1"): 0.9}, 0.3)) == [("n0", FINAL)]


def test_nodes_without_a_likely_enough_link_stay_unlinked():
    """Edges under the threshold are never used; later passes link through new useful nodes."""
    space = contract_space("mmlu", 4)
    walk = walk_of(space, ["n0", "n1", "n2"], [("n0", FINAL)])
    probs = {("n1", "n2"): 0.9, ("n2", "n0"): 0.25}
    added = link_orphans(walk, table(probs, 0.1))
    assert added == [("n2", "n0"), ("n1", "n2")]  # n1's link exists only after n2's
    assert link_orphans(walk_of(space, ["n0", "n1"], [("n0", FINAL)]), table({}, 0.1)) == []


@pytest.mark.parametrize("passes", [1, 3])
def test_passes_bound_the_linking(passes):
    space = contract_space("mmlu", 4)
    walk = walk_of(space, ["n0", "n1", "n2"], [("n0", FINAL)])
    probs = {("n1", "n2"): 0.9, ("n2", "n0"): 0.25}
    added = link_orphans(walk, table(probs, 0.1), passes=passes)
    assert len(added) == (1 if passes == 1 else 2)
