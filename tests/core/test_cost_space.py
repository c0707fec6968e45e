import numpy as np
import pytest

from suite.core.cost import TokenProfile, node_flops
from suite.core.errors import ConfigError, InfeasibleGraphError
from suite.core.graph import FINAL, CollabGraph, Node
from suite.core.topologies import parallel
from suite.search.testing import contract_space


@pytest.mark.parametrize(
    ("task", "expected"), [("math", 9.710e11), ("mmlu", 8.680e11), ("humaneval", 5.957e11)]
)
def test_one_1b_call_matches_the_paper(task, expected):
    space = contract_space(task)
    one = node_flops(space.specs["llama-3.2-1b"], 0, space.tokens)
    assert one == pytest.approx(expected, rel=0.005)


@pytest.mark.parametrize(
    ("task", "cap"), [("math", 7.67e13), ("mmlu", 6.07e13), ("humaneval", 3.36e13)]
)
def test_flops_cap_at_budget_12(task, cap):
    assert contract_space(task).cap_flops == pytest.approx(cap, rel=0.005)


def test_model_sizes_relative_to_1b():
    space = contract_space("mmlu")
    one = node_flops(space.specs["llama-3.2-1b"], 0, space.tokens)
    ratios = [node_flops(space.specs[m], 0, space.tokens) / one for m in space.model_names]
    assert ratios == pytest.approx([1.0, 2.995, 7.95, 69.3], rel=0.01)


def test_least_leftover_mixes_match_the_paper():
    mmlu = set(contract_space("mmlu").feasible_mixes())
    assert mmlu == {
        (12, 0, 0, 0),
        (9, 1, 0, 0),
        (6, 2, 0, 0),
        (3, 3, 0, 0),
        (0, 4, 0, 0),
        (3, 0, 1, 0),
        (0, 1, 1, 0),
    }
    assert set(contract_space("math").feasible_mixes()) == mmlu
    assert set(contract_space("humaneval").feasible_mixes()) == {
        (12, 0, 0, 0),
        (8, 1, 0, 0),
        (4, 2, 0, 0),
        (0, 3, 0, 0),
        (5, 0, 1, 0),
        (1, 1, 1, 0),
    }
    assert contract_space("mmlu").max_nodes == 12
    assert len(contract_space("mmlu").candidate_edges) == 12 * 11 + 12


def test_budget_too_small_and_bad_pools_are_config_errors():
    space = contract_space("mmlu")
    with pytest.raises(ConfigError, match="too small"):
        type(space)(space.task, space.models, space.final_model, 0, space.tokens)
    with pytest.raises(ConfigError, match="twice"):
        type(space)(
            space.task, space.models + space.models[:1], space.final_model, 12, space.tokens
        )
    with pytest.raises(ConfigError, match="final_model"):
        type(space)(space.task, space.models, "gpt", 12, space.tokens)


def test_check_rejects_over_budget_and_unknown_models():
    space = contract_space("mmlu")
    with pytest.raises(InfeasibleGraphError, match="units"):
        space.check(parallel(["llama-3.1-8b", "llama-3.1-8b"], space.final_model))
    with pytest.raises(InfeasibleGraphError, match="not in the pool"):
        space.check(parallel(["gpt"], space.final_model))
    space.check(CollabGraph.single("llama-3.1-70b"), allow_single=True)


def test_repair_deletes_smallest_nodes_until_the_cap_fits():
    space = contract_space("math")
    ids = [f"n{i}" for i in range(14)]
    # a complete DAG of twelve 1B nodes into the 3B sink is the cap's reference; 14 pass it
    edges = [(a, b) for k, a in enumerate(ids) for b in ids[k + 1 :]] + [(i, FINAL) for i in ids]
    big = CollabGraph.build([Node(i, "llama-3.2-1b") for i in ids], edges, space.final_model)
    assert space.flops(big) > space.cap_flops
    fixed, deleted = space.repair(big, np.random.default_rng(0))
    space.check(fixed)
    assert len(deleted) >= 2 and len(fixed.nodes) == 14 - len(deleted)
    again, _ = space.repair(big, np.random.default_rng(0))
    assert again == fixed


def test_repair_prefers_the_smallest_size_class():
    space = contract_space("mmlu")
    models = ["llama-3.2-1b"] * 3 + ["llama-3.1-8b"] * 2  # 21 units > 12
    fixed, deleted = space.repair(parallel(models, space.final_model), np.random.default_rng(1))
    assert len(deleted) >= 3 and all(fixed.node(i).model for i in fixed.node_ids)
    assert space.mix_of(fixed)[0] == 0 or space.mix_of(fixed)[2] == 2
    space.check(fixed)


def test_token_profile():
    assert TokenProfile(213, 215).prompt_tokens(2) == 643


def test_unused_nodes_cost_nothing():
    """PAPER.md §8: nodes with no path to final are not charged: FLOPs, latency, units."""
    space = contract_space("mmlu")
    small, big = "llama-3.2-1b", "llama-3.1-8b"
    used = CollabGraph.build([Node("n0", small)], [("n0", FINAL)], space.final_model)
    extra = CollabGraph.build(
        [Node("n0", small), Node("n1", big), Node("n2", small)],
        [("n0", FINAL), ("n1", "n2"), ("n0", "n2")],
        space.final_model,
    )
    assert extra.unused() == ("n1", "n2")
    assert space.flops(extra) == space.flops(used)
    assert space.latency_s(extra) == space.latency_s(used)
    assert space.units(extra) == space.units(used) == 1
    assert space.mix_of(extra) == (2, 0, 1, 0)  # the declared mix still lists them
    space.check(extra)


def test_repair_leaves_unreachable_nodes_unused():
    """Repair no longer wires every node without a successor into final."""
    space = contract_space("mmlu")
    graph = CollabGraph.build(
        [Node("n0", "llama-3.2-1b"), Node("n1", "llama-3.2-3b")], [("n0", FINAL)], space.final_model
    )
    fixed, deleted = space.repair(graph, np.random.default_rng(0))
    assert fixed == graph and deleted == ()
    assert fixed.unused() == ("n1",)


def test_repair_deletes_only_running_nodes_and_rewires_an_inputless_final():
    """Victims are drawn among running nodes; a final left with no input gets the sinks."""
    space = contract_space("mmlu")
    eight = "llama-3.1-8b"
    graph = CollabGraph.build(
        [Node("n0", eight), Node("n1", eight), Node("n2", "llama-3.2-1b")],
        [("n0", FINAL), ("n1", FINAL)],
        space.final_model,
    )
    fixed, deleted = space.repair(graph, np.random.default_rng(0))
    assert len(deleted) == 1 and deleted[0] in ("n0", "n1")  # the unused 1B n2 is no victim
    space.check(fixed)
    lone = CollabGraph.build(
        [Node("n0", eight), Node("n1", "llama-3.2-1b")], [("n1", "n0")], space.final_model
    )
    mended, _ = space.repair(lone, np.random.default_rng(0))
    assert mended.preds(FINAL) == ("n0",) and not mended.unused()
