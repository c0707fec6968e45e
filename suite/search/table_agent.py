"""The MaaoSwarm hybrid's LLM step as text: probability tables, prompt, reply parser, heuristic.

The agent rewrites the edge and role probability tables (PAPER.md §8); nothing here proposes
a graph. The heuristic rule answers from the prompt text alone, as an LLM would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from suite.core.distribution import GraphDistribution
from suite.core.errors import ForeignScriptError, ProposalParseError
from suite.core.graph import CollabGraph
from suite.prompts import Message
from suite.search import llm_search as ls
from suite.search.searcher import AgentRequest

PURPOSE = "maao"
"""The request purpose of the table-rewrite step."""
STEP = 0.25  # the heuristic's largest nudge of one probability per round
_EPS = 1e-6  # the official parse_llm_prob_blocks clips probabilities to [eps, 1 - eps]
_EDGE = re.compile(r"(\d+)\s*:\s*src=(\w+)\s*,\s*dst=(\w+)\s*,\s*prob=([0-9.eE+-]+)")
_ROLE = re.compile(r"(\d+)\s*:\s*node=(\w+)\s*,\s*IO=([0-9.eE+-]+)\s*,\s*REV=([0-9.eE+-]+)")
_ACCURACY = re.compile(r"Last-round accuracy[^:]*:\s*([0-9.]+)%")
_FOREIGN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def edge_rows(dist: GraphDistribution) -> list[str]:
    """One line per candidate edge: ``<idx>: src=n0, dst=n1, prob=0.500``.

    The official table lists every candidate edge with the unshifted sigmoid(logit); the
    sampler draws with sigmoid(logit - 2).
    """
    return [
        f"{k}: src={s}, dst={d}, prob={dist.raw_edge_prob(s, d):.3f}"
        for k, (s, d) in enumerate(dist.space.candidate_edges)
    ]


def role_rows(dist: GraphDistribution) -> list[str]:
    """One line per slot: ``<row>: node=n0, IO=0.500, REV=0.500`` (softmax of its role logits).

    The official table also lists FinalDecision, whose role the agent must not change; the
    suite leaves it out (its role is fixed).
    """
    rows = []
    for k, slot in enumerate(dist.space.node_ids):
        io, rev = dist.role_probs(slot)
        rows.append(f"{k}: node={slot}, IO={io:.3f}, REV={rev:.3f}")
    return rows


def request(dist: GraphDistribution, graph: CollabGraph, accuracy: float) -> AgentRequest:
    """The table-rewrite request for the last sampled graph and its batch accuracy."""
    example = [
        "Edge-probabilities:",
        *edge_rows(dist)[:2],
        "Role-probabilities:",
        *role_rows(dist)[:2],
    ]
    messages = ls.render(
        PURPOSE,
        task=dist.space.task.upper(),
        accuracy=f"{accuracy:.1%}",
        graph=ls.role_text(graph),
        edges="\n".join(edge_rows(dist)),
        roles="\n".join(role_rows(dist)),
        example="\n".join(example),
    )
    return AgentRequest(PURPOSE, messages)


def apply_reply(dist: GraphDistribution, text: str) -> GraphDistribution:
    """A copy of ``dist`` with the edge and role probabilities the reply names.

    As the official ``parse_llm_prob_blocks``: edge logits become logit(p) (unshifted, clipped
    to [1e-6, 1 - 1e-6]) and role logits log(IO), log(REV). Unlike it, rows the reply leaves
    out keep their values (the official code zeroes them, and its role rows become -inf).

    Raises:
        ForeignScriptError: the reply is in a foreign script (the official code retries).
        ProposalParseError: no ``Edge-probabilities:`` rows, or a row that names an edge or
            node the tables do not have.
    """
    if _FOREIGN.search(text):
        raise ForeignScriptError("the reply contains non-English text")
    head = re.search(r"Edge[-_ ]prob\w*\s*:", text)
    if head is None:
        raise ProposalParseError("the reply has no 'Edge-probabilities:' block")
    body = text[head.end() :]
    split = re.search(r"Role[-_ ]prob\w*\s*:", body)
    edge_part, role_part = body, ""
    if split is not None:
        edge_part, role_part = body[: split.start()], body[split.end() :]
    edges = _EDGE.findall(edge_part)
    if not edges:
        raise ProposalParseError("the 'Edge-probabilities:' block has no '<idx>: src=..' row")
    out = dist.copy()
    space = dist.space
    for idx, src, dst, prob in edges:
        k = int(idx)
        if k >= len(space.candidate_edges) or space.candidate_edges[k] != (src, dst):
            raise ProposalParseError(f"edge row {k} names {src}->{dst}, not a candidate at {k}")
        out.edge_logits[k] = _logit(float(prob))
    for _row, slot, io, rev in _ROLE.findall(role_part):
        if slot not in space.slot_index:
            raise ProposalParseError(f"role row names unknown node '{slot}'")
        probs = [min(max(float(x), _EPS), 1.0) for x in (io, rev)]
        out.role_logits[space.slot_index[slot]] = np.log(probs)
    return out


def _logit(p: float) -> float:
    q = min(max(p, _EPS), 1 - _EPS)
    return math.log(q / (1 - q))


# ---- the heuristic agent's rule --------------------------------------------------------------
def heuristic_reply(messages: Sequence[Message]) -> str:
    """An RL-style nudge read from the prompt text alone (a stand-in for the LLM).

    The edges of the last graph move by ``STEP * (2 * accuracy - 1)`` (up after a good batch,
    down after a poor one), and so does each of its nodes' probability of the role it played;
    every other row is copied unchanged.
    """
    prompt = messages[-1][1]
    found = _ACCURACY.search(prompt)
    accuracy = float(found[1]) / 100 if found else 0.0
    delta = STEP * (2 * accuracy - 1)
    used, played = _graph_choices(prompt)
    lines = ["Edge-probabilities:"]
    for idx, src, dst, prob in _EDGE.findall(_section(prompt, "edge-probabilities")):
        p = float(prob) + (delta if (src, dst) in used else 0.0)
        lines.append(f"{idx}: src={src}, dst={dst}, prob={min(0.98, max(0.02, p)):.3f}")
    lines.append("Role-probabilities:")
    for row, slot, _io, rev in _ROLE.findall(_section(prompt, "role-probabilities")):
        rev_p = float(rev)
        if slot in played:
            rev_p += delta if played[slot] == "REV" else -delta
        rev_p = min(0.98, max(0.02, rev_p))
        lines.append(f"{row}: node={slot}, IO={1 - rev_p:.3f}, REV={rev_p:.3f}")
    return "\n".join(lines)


def _graph_choices(prompt: str) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """The edges and node roles of the ``Node <id> | ... | preds=[...]`` lines of the prompt."""
    edges: set[tuple[str, str]] = set()
    roles: dict[str, str] = {}
    node = re.compile(r"Node\s+(\w+)\s*\|[^|]*\|\s*role=(\w+)\s*\|\s*preds=\[([^\]]*)\]")
    for node_id, role, preds in node.findall(prompt):
        if node_id != "final":
            roles[node_id] = role.upper()
        edges |= {(p, node_id) for p in re.findall(r"\w+", preds)}
    return edges, roles


def _section(prompt: str, table: str) -> str:
    """The text after ``Last-round <table>:`` up to the next heading (a line without ``=``)."""
    start = prompt.find(f"Last-round {table}:")
    if start < 0:
        return ""
    lines = prompt[start:].splitlines()[1:]
    rows = []
    for line in lines:
        if "=" not in line:
            break
        rows.append(line)
    return "\n".join(rows)
