"""What LLM-driven searchers share: agent prompts, reply parsing with reasons, graph assembly.

Agent-REINFORCE, the TextGrad-style baseline and LLM-proposal all ask an agent for text in
the graph's one-line-per-node form (PAPER.md §6) and turn it into a feasible graph here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from string import Template
from typing import Any

import numpy as np
import yaml

from suite.core.distribution import GraphDistribution
from suite.core.edges import EdgeWalk, reaches
from suite.core.errors import ForeignScriptError, InfeasibleGraphError, ProposalParseError
from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.core.space import GraphSpace, Mix
from suite.prompts import HERE as PROMPTS_DIR
from suite.prompts import Message

NODE_LINE = re.compile(  # one node line of the agent text form (PAPER.md §6)
    r"Node\s+(\w+)\s*\|\s*model\s*=\s*([^|]+?)\s*\|\s*role\s*=\s*(\w+)\s*\|\s*preds\s*=\s*\[([^\]]*)\]",
    re.IGNORECASE,
)
ROLES = {"io": Role.ASSISTANT, "assistant": Role.ASSISTANT, "rev": Role.FUSER, "fuser": Role.FUSER}
_FOREIGN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@cache
def _prompt(name: str) -> dict[str, str]:
    data: dict[str, str] = yaml.safe_load((PROMPTS_DIR / "agent" / f"{name}.yaml").read_text())
    return data


def insights(kind: str) -> str:
    """The paper's agent notes for ``init`` or ``update`` (PAPER.md §7)."""
    return str(_prompt("insights")[kind])


def render(name: str, **fields: object) -> tuple[Message, ...]:
    """System and user messages of ``suite/prompts/agent/<name>.yaml`` filled with fields."""
    tpl = _prompt(name)
    values = {k: str(v) for k, v in fields.items()}
    return (
        ("system", Template(tpl["system"]).safe_substitute(values)),
        ("user", Template(tpl["user"]).safe_substitute(values)),
    )


def percent(accuracy: float) -> str:
    """An accuracy as the agent reads it: ``33.3%`` (the official prompts print percentages)."""
    return f"{accuracy:.1%}"


def canonical(graph: CollabGraph) -> CollabGraph:
    """The graph with its agent nodes renamed ``n0 .. n{k-1}`` in their canonical order.

    Samplers put a mix on arbitrary slots (``n8``, ``n11``); the agent is shown, and may
    answer with, only the ids of :func:`prefix_ids`. This is the one mapping from slots to
    those ids, used for every graph the agent sees, so the graph, its edge table and the
    reply parser agree.
    """
    rename = {n.id: f"n{k}" for k, n in enumerate(graph.nodes)}
    rename[FINAL] = FINAL
    nodes = [Node(rename[n.id], n.model, n.role) for n in graph.nodes]
    edges = [(rename[s], rename[d]) for s, d in graph.edges]
    return CollabGraph.build(nodes, edges, graph.final_model)


def all_assistant(graph: CollabGraph) -> CollabGraph:
    """The graph with every node an assistant (IO), as the paper's pre-test graphs are."""
    nodes = [Node(n.id, n.model, Role.ASSISTANT) for n in graph.nodes]
    return CollabGraph.build(nodes, graph.edges, graph.final_model)


def example_reply(space: GraphSpace) -> str:
    """The reply format shown to the agent: a small two-node graph and its table lines.

    The official prompts show a concrete ``Graph:`` / ``Edge-probabilities:`` example; this
    one uses the pool's smallest model and the suite's ids and table indices.
    """
    model = space.model_names[0]
    nodes = [Node("n0", model), Node("n1", model, Role.FUSER)]
    graph = CollabGraph.build(nodes, [("n0", "n1"), ("n1", FINAL)], space.final_model)
    index = space.edge_index
    rows = [("n0", "n1", 0.6), ("n1", "n0", 0.0), ("n0", FINAL, 0.1), ("n1", FINAL, 0.7)]
    table = [f"{index[(s, d)]}: src={s}, dst={d}, prob={p:.3f}" for s, d, p in rows]
    return "\n".join(["Graph:", role_text(graph), "Edge-probabilities:", *table])


def role_text(graph: CollabGraph) -> str:
    """The graph in the agent's text form, roles written IO/REV as in the paper's prompts."""
    text = graph.as_text()
    return text.replace("role=assistant", "role=IO").replace("role=fuser", "role=REV")


def edge_table(dist: GraphDistribution, node_ids: Sequence[str]) -> str:
    """The edge-probability lines among ``node_ids`` (the agent's table, PAPER.md §6)."""
    return "\n".join(dist.edge_lines(node_ids))


def mix_vector(mix: Mix) -> str:
    """A mix as the paper's JSON count vector keyed by pool index: ``{"0": 3, "1": 0, ...}``."""
    return json.dumps({str(k): c for k, c in enumerate(mix)})


def parse_mix_vectors(text: str, space: GraphSpace) -> list[Mix]:
    """Every ``{...}`` of the reply read as a count vector keyed by pool index.

    Raises:
        ProposalParseError: when no vector parses or one breaks the budget.
    """
    out: list[Mix] = []
    for blob in re.findall(r"\{[^{}]*\}", text):
        try:
            data = json.loads(blob)
            mix = tuple(int(data.get(str(k), 0)) for k in range(len(space.models)))
        except (ValueError, TypeError, AttributeError):
            continue
        if any(c < 0 for c in mix) or sum(mix) == 0:
            continue
        if space.mix_units(mix) > space.budget_units:
            raise ProposalParseError(f"mix {blob} spends more than {space.budget_units} units")
        out.append(mix)
    if not out:
        raise ProposalParseError("no JSON count vector in the reply")
    return out


def split_blocks(text: str) -> tuple[str, str | None]:
    """The ``Graph:`` block and the ``Edge-probabilities:`` block (None when absent).

    Raises:
        ForeignScriptError: when the text is in a foreign script.
        ProposalParseError: when there is no ``Graph:`` block.
    """
    if _FOREIGN.search(text):
        raise ForeignScriptError("the reply contains non-English text")
    match = re.search(r"Graph\s*:", text)
    if not match:
        raise ProposalParseError("the reply has no 'Graph:' block")
    rest = text[match.end() :]
    table = re.search(r"Edge-probabilities\s*:", rest)
    if table is None:
        return rest, None
    return rest[: table.start()], rest[table.end() :]


def parse_graph(
    block: str,
    space: GraphSpace,
    allowed_ids: Sequence[str],
    mix: Mix | None,
) -> CollabGraph:
    """Read node lines into a graph; ``final``'s line gives its predecessors.

    Edges come from each node's ``preds`` (``succs`` are ignored, as in the paper's code).

    Raises:
        ProposalParseError: unknown node ids or models, broken counts (R-1), an invalid graph,
            or no node at all; the message says which. Edges that would close a cycle are left
            out, as the official code does.
    """
    nodes: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []
    for node_id, model, role, preds in NODE_LINE.findall(block):
        node_id, model = node_id.strip(), model.strip()
        if node_id.lower() == FINAL or model == "FinalDecision":
            node_id = FINAL
        elif node_id not in allowed_ids:
            raise ProposalParseError(f"unknown node id '{node_id}' (allowed: {list(allowed_ids)})")
        elif model not in space.specs:
            raise ProposalParseError(f"unknown model '{model}' on {node_id}")
        else:
            if role.lower() not in ROLES:
                raise ProposalParseError(f"unknown role '{role}' on {node_id}")
            nodes[node_id] = Node(node_id, model, ROLES[role.lower()])
        for pred in re.findall(r"\w+", preds):
            edges.append((pred, node_id))
    if not nodes:
        raise ProposalParseError("the Graph block names no agent node")
    kept: list[tuple[str, str]] = []
    adj: dict[str, set[str]] = {node_id: set() for node_id in [*nodes, FINAL]}
    for src, dst in edges:
        if src not in nodes:
            raise ProposalParseError(f"edge {src}->{dst} names an unknown node")
        # PAPER.md §6 step 8: each preds edge is added unless it closes a cycle (a self-loop
        # included) or repeats one already added
        if src == dst or (src, dst) in kept or reaches(adj, dst, src):
            continue
        kept.append((src, dst))
        adj[src].add(dst)
    try:
        graph = CollabGraph.build(nodes.values(), kept, space.final_model)
    except InfeasibleGraphError as exc:  # any other structural fault is the reply's, not the run's
        raise ProposalParseError(f"the proposed graph is not valid: {exc}") from exc
    if mix is not None and space.mix_of(graph) != tuple(mix):
        raise ProposalParseError(
            f"model counts {space.format_mix(space.mix_of(graph))} break R-1: the mix is "
            f"{space.format_mix(mix)}"
        )
    try:
        graph.layers()
    except Exception as exc:
        raise ProposalParseError("the proposed graph has a cycle") from exc
    return graph


def graph_from_table(
    dist: GraphDistribution, mix: Mix, rng: np.random.Generator
) -> tuple[CollabGraph, str]:
    """A fallback graph: a sample of the agent's table on ``n0..n{k-1}``, then repaired.

    The mix's models go to the ids the agent was shown in a random order; edges are drawn
    from the table rows the agent wrote (step 3 of the sampler, cycle-closing edges
    skipped), roles from the table's role rows. A table that gives ``final`` no input in 50
    draws (the paper's table starts at 0.000) falls back to the prior (edges about 0.12),
    relabelled by :func:`canonical`. Returns the graph and which source was used.
    """
    space = dist.space
    ids = prefix_ids(mix)
    names = space.mix_names(mix)
    models = {i: names[int(k)] for i, k in zip(ids, rng.permutation(len(ids)), strict=True)}
    for _ in range(50):
        walk = EdgeWalk(space, ids)
        walk.run(lambda src, dst: bool(rng.random() < dist.edge_prob(src, dst)))
        if any(dst == FINAL for _, dst in walk.edges):
            break
    else:
        draw = GraphDistribution(space).sample(rng, mix=mix)
        return canonical(space.repair(draw.full, rng)[0]), "the prior"
    wired = CollabGraph.build([Node(i, models[i]) for i in ids], walk.edges, space.final_model)
    roles = dist.sample_roles(rng, wired)[0]
    nodes = [Node(i, models[i], roles.get(i, Role.ASSISTANT)) for i in ids]
    drawn = CollabGraph.build(nodes, walk.edges, space.final_model)
    return space.repair(drawn, rng)[0], "the edge table"


def table_distribution(space: GraphSpace, prob: float) -> GraphDistribution:
    """A distribution whose every edge probability is ``prob`` (no shift)."""
    dist = GraphDistribution(space, edge_shift=0.0)
    dist.edge_logits[:] = float(np.log(max(prob, 1e-4) / max(1 - prob, 1e-4)))
    return dist


def prefix_ids(mix: Mix) -> list[str]:
    """The node ids a mix's graph uses: ``n0 .. n{k-1}``."""
    return [f"n{i}" for i in range(sum(mix))]


def jsonable_pairs(history: Sequence[tuple[CollabGraph, float]]) -> list[Any]:
    """Graph/score pairs as JSON data."""
    return [[g.to_dict(), s] for g, s in history]


def pairs_from_json(data: Sequence[Any]) -> list[tuple[CollabGraph, float]]:
    """Inverse of :func:`jsonable_pairs`."""
    return [(CollabGraph.from_dict(g), float(s)) for g, s in data]
