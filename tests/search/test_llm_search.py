"""Reading an agent's Graph block: cycle-closing edges are left out, as in the official code."""

from __future__ import annotations

import pytest

from suite.core.errors import ProposalParseError
from suite.core.graph import FINAL
from suite.search.llm_search import parse_graph
from suite.search.testing import contract_space


def _block(*lines: str) -> str:
    return "Graph:\n" + "\n".join(lines)


def test_a_self_loop_and_a_cycle_closing_edge_are_left_out_not_fatal():
    """A real tiny agent wrote ``preds=[n1]`` on n1; the run stopped with a one-line error."""
    space = contract_space()
    block = _block(
        "Node n0 | model=llama-3.2-1b | role=IO | preds=[n1]",
        "Node n1 | model=llama-3.2-1b | role=IO | preds=[n1, n0]",  # self-loop; n0->n1 closes
        f"Node {FINAL} | model=FinalDecision | role=IO | preds=[n1, n1]",
    )
    graph = parse_graph(block, space, ["n0", "n1"], None)
    assert set(graph.edges) == {("n1", "n0"), ("n1", FINAL)}
    space.check(graph)


def test_an_unknown_node_is_still_a_parse_error():
    with pytest.raises(ProposalParseError, match="unknown node id"):
        parse_graph(_block("Node n7 | model=llama-3.2-1b | role=IO | preds=[]"), contract_space(),
                    ["n0"], None)  # fmt: skip
