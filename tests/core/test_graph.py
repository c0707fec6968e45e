import pytest

from suite.core.errors import InfeasibleGraphError
from suite.core.graph import FINAL, CallKind, CollabGraph, Node, Role

A, F = Role.ASSISTANT, Role.FUSER


def g(nodes, edges, final="m3"):
    return CollabGraph.build([Node(i, m, r) for i, m, r in nodes], edges, final)


def test_canonical_json_and_digest_ignore_input_order():
    a = g([("n0", "m1", A), ("n1", "m1", A)], [("n1", FINAL), ("n0", "n1")])
    b = g([("n1", "m1", A), ("n0", "m1", A)], [("n0", "n1"), ("n1", FINAL)])
    assert a == b and a.to_json() == b.to_json() and a.digest == b.digest
    assert CollabGraph.from_json(a.to_json()) == a
    c = g([("n0", "m1", A), ("n1", "m1", F)], [("n0", "n1"), ("n1", FINAL)])
    assert c.digest != a.digest


def test_ids_sort_numerically():
    nodes = [(f"n{i}", "m", A) for i in (10, 2, 0)]
    graph = g(nodes, [(f"n{i}", FINAL) for i in (10, 2, 0)])
    assert graph.node_ids == ("n0", "n2", "n10")


def test_layers_depths_and_call_kinds():
    graph = g(
        [("n0", "m1", A), ("n1", "m1", A), ("n2", "m2", F)],
        [("n0", "n2"), ("n1", "n2"), ("n2", FINAL), ("n0", FINAL)],
    )
    assert graph.layers() == [("n0", "n1"), ("n2",), (FINAL,)]
    assert graph.depths() == {"n0": 0, "n1": 0, "n2": 1, FINAL: 2}
    assert graph.call_kind("n0") is CallKind.DIRECT
    assert graph.call_kind("n2") is CallKind.FUSER
    assert graph.call_kind(FINAL) is CallKind.FINAL
    graph.validate()


@pytest.mark.parametrize(
    ("nodes", "edges", "message"),
    [
        ([("n0", "m", A), ("n1", "m", A)], [("n0", "n1"), ("n1", "n0"), ("n1", FINAL)], "cycle"),
        ([("n0", "m", A)], [], "no predecessor"),
        ([("n0", "m", F)], [("n0", FINAL)], "no assistant node"),
        (
            [("n0", "m", A), ("n1", "m", F), ("n2", "m", F)],
            [("n0", "n1"), ("n1", "n2"), ("n2", FINAL)],
            "fuser predecessor",
        ),
        (
            [("n0", "m", A), ("n1", "m", F)],
            [("n0", FINAL), ("n1", FINAL)],
            "no assistant predecessor",
        ),
    ],
)
def test_validate_names_the_broken_rule(nodes, edges, message):
    with pytest.raises(InfeasibleGraphError, match=message):
        g(nodes, edges).validate()


@pytest.mark.parametrize("edges", [[("n0", "n9")], [(FINAL, "n0")], [("n0", "n0")]])
def test_build_rejects_bad_edges(edges):
    with pytest.raises(InfeasibleGraphError):
        g([("n0", "m", A)], edges)


def test_single_model_reference_is_valid_and_direct():
    single = CollabGraph.single("m8")
    single.validate()
    assert single.layers() == [(FINAL,)]
    assert single.call_kind(FINAL) is CallKind.DIRECT
    assert single.describe() == "single model m8"


def test_text_form_for_agents():
    graph = g([("n0", "m1", A), ("n3", "m2", F)], [("n0", "n3"), ("n3", FINAL)])
    assert graph.as_text().splitlines() == [
        "Node n0 | model=m1 | role=assistant | preds=[] | succs=[n3]",
        "Node n3 | model=m2 | role=fuser | preds=[n0] | succs=[final]",
        "Node final | model=FinalDecision | role=assistant | preds=[n3] | succs=[]",
    ]


@pytest.mark.parametrize(
    "text",
    ["[1, 2]", '{"nodes": []}', '{"nodes": [{"id": "n0"}], "edges": [], "final_model": "m"}', "{"],
)
def test_from_json_rejects_non_graphs(text):
    with pytest.raises(InfeasibleGraphError):
        CollabGraph.from_json(text)


def test_nodes_that_cannot_reach_final_are_valid_and_unused():
    """PAPER.md §8: a node with no path to final is allowed; it is unused, roles unchecked."""
    graph = g(
        [("n0", "m", A), ("n1", "m", F), ("n2", "m", A), ("n3", "m", A)],
        [("n0", FINAL), ("n2", "n1"), ("n0", "n3")],
    )
    graph.validate()  # n1 is a fuser fed by an unused node: not checked, it never runs
    assert graph.unused() == ("n1", "n2", "n3")
    used = graph.used()
    assert used.node_ids == ("n0",) and used.edges == (("n0", FINAL),)
    assert used.used() is used
    # the canonical JSON and digest keep unused nodes: they name the graph as proposed
    assert [n["id"] for n in graph.to_dict()["nodes"]] == ["n0", "n1", "n2", "n3"]
    assert graph.digest != used.digest
    assert "3 unused" in graph.describe()


def test_role_rules_count_only_running_nodes():
    """An unused assistant does not satisfy "at least one assistant" for the running nodes."""
    bad = g([("n0", "m", F), ("n1", "m", A)], [("n0", FINAL)])
    with pytest.raises(InfeasibleGraphError, match="no assistant"):
        bad.validate()  # the only running node is a fuser


def test_describe_uses_singular_for_one():
    one = CollabGraph.from_dict(
        {
            "nodes": [{"id": "n0", "model": "m", "role": "assistant"}],
            "edges": [["n0", "final"]],
            "final_model": "m",
        }
    )
    text = one.describe()
    assert text.startswith("1 node (1x m)") and "0 fusers" in text and "1 edge," in text
