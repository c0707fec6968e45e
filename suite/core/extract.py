"""Extracting one final graph from learned logits, as the official code does (PAPER.md §5 step 4).

REINFORCE and the MaaoSwarm hybrid return this graph; it reads the distribution, never changes it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from suite.core.distribution import GraphDistribution
from suite.core.edges import EdgeWalk, link_orphans
from suite.core.graph import FINAL, CollabGraph, Node, Role


def extract(
    dist: GraphDistribution,
    rng: np.random.Generator,
    edge_threshold: float = 0.55,
    max_out_edges: int = 2,
    link_threshold: float = 0.2,
    mask_threshold: float = 0.0,
) -> CollabGraph:
    """The paper's final graph from learned logits (PAPER.md §5 step 4); passes ``space.check``.

    Every p here is the *unshifted* sigmoid(logit), as in the official ``evaluate_swarm``
    (the sampler's p is sigmoid(logit - 2)).

    1. Over all slots, realise the candidate edges with p > ``mask_threshold`` (0: all),
       highest p first (ties in candidate order), at most ``max_out_edges`` out of a node,
       skipping cycle-closers: every node gets its top two out-edges.
    2. Shuffle the slots; in that order each takes its highest-logit model that still fits
       the integer budget.
    3. Again add the edges with p > ``edge_threshold`` the same way (a fresh out-edge count;
       an edge already there counts). After step 1 this adds nothing with the defaults, as
       in the official code; it matters when ``mask_threshold`` is raised.
    4. Drop the slots that got no model, with their edges.
    5. Link each node that cannot reach ``final`` to the most probable node that can, over
       edges with p >= ``link_threshold`` (:func:`~suite.core.edges.link_orphans`); nodes
       that stay unlinked are unused (not run, not charged).
    6. Enforce the FLOPs cap (``space.repair``).
    7. Sample roles of the running nodes (2,000 tries, then all assistants).
    """
    space = dist.space
    probs = {e: dist.raw_edge_prob(*e) for e in space.candidate_edges}
    walk = EdgeWalk(space, space.node_ids)
    _realise(walk, probs, mask_threshold, max_out_edges)
    order = [int(i) for i in rng.permutation(space.max_nodes)]
    picks = space.pick_models(
        order, lambda slot, aff: aff[int(np.argmax(dist.model_logits[slot][list(aff)]))]
    )
    _realise(walk, probs, edge_threshold, max_out_edges)
    models = {p.node_id: space.models[p.model].name for p in picks}
    kept = [sid for sid in space.node_ids if sid in models]
    edges = [(s, d) for s, d in walk.edges if s in models and (d in models or d == FINAL)]
    graph = CollabGraph.build([Node(i, models[i]) for i in kept], edges, space.final_model)
    linked = EdgeWalk.of(space, graph)
    link_orphans(linked, lambda s, d: probs[(s, d)], link_threshold)
    wired = CollabGraph.build(graph.nodes, linked.edges, space.final_model)
    capped, _ = space.repair(wired, rng)
    roles, _, _ = dist.sample_roles(rng, capped)
    nodes = [Node(n.id, n.model, roles.get(n.id, Role.ASSISTANT)) for n in capped.nodes]
    extracted = CollabGraph.build(nodes, capped.edges, space.final_model)
    space.check(extracted)
    return extracted


def _realise(
    walk: EdgeWalk, probs: Mapping[tuple[str, str], float], threshold: float, max_out: int
) -> None:
    """Add edges with p > ``threshold``, highest first, <= ``max_out`` per source, no cycles.

    The official ``realize_mask``: the out-edge count starts at zero on every call and an
    edge already in the walk counts when it is met again.
    """
    ranked = sorted((e for e, p in probs.items() if p > threshold), key=lambda e: -probs[e])
    out_count: dict[str, int] = {}
    for src, dst in ranked:
        if out_count.get(src, 0) >= max_out or walk.closes_cycle(src, dst):
            continue
        walk.add(src, dst)
        out_count[src] = out_count.get(src, 0) + 1
