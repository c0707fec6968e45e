"""Canonical graph layouts: parallel, chain, layered mesh, parallel chains (PAPER.md §7 pilots).

Used by the simulator's fit and insight checks, and as pilot topologies for searchers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from suite.core.graph import FINAL, CollabGraph, Node, Role


def _ids(n: int) -> list[str]:
    return [f"n{i}" for i in range(n)]


def parallel(models: Sequence[str], final_model: str) -> CollabGraph:
    """Every node answers directly and feeds ``final`` (width = len(models), depth 1)."""
    ids = _ids(len(models))
    nodes = [Node(i, m) for i, m in zip(ids, models, strict=True)]
    return CollabGraph.build(nodes, [(i, FINAL) for i in ids], final_model)


def chain(models: Sequence[str], final_model: str) -> CollabGraph:
    """One chain ``n0 -> n1 -> ... -> final``: each node refines the previous answer."""
    ids = _ids(len(models))
    nodes = [Node(i, m) for i, m in zip(ids, models, strict=True)]
    edges = list(zip(ids, [*ids[1:], FINAL], strict=True))
    return CollabGraph.build(nodes, edges, final_model)


def layered(
    models: Sequence[str], width: int, final_model: str, *, fusers: bool = False
) -> CollabGraph:
    """Layers of ``width`` nodes, each layer fully wired to the next, the last into ``final``.

    Args:
        models: One model per node, filled layer by layer (a short last layer is allowed).
        width: Nodes per layer.
        final_model: The sink's model.
        fusers: Make every node after the first layer a fuser (its inputs are assistants
            only when layers alternate, so only the second layer becomes fusers).
    """
    ids = _ids(len(models))
    layers = [ids[k : k + width] for k in range(0, len(ids), width)]
    edges = [(a, b) for up, down in itertools.pairwise(layers) for a in up for b in down]
    edges += [(a, FINAL) for a in layers[-1]]
    second = set(layers[1]) if fusers and len(layers) > 1 else set()
    nodes = [
        Node(i, m, Role.FUSER if i in second else Role.ASSISTANT)
        for i, m in zip(ids, models, strict=True)
    ]
    return CollabGraph.build(nodes, edges, final_model)


def parallel_chains(models: Sequence[str], n_chains: int, final_model: str) -> CollabGraph:
    """``n_chains`` independent chains (models dealt round-robin), each ending in ``final``."""
    ids = _ids(len(models))
    chains = [ids[k::n_chains] for k in range(n_chains)]
    edges = []
    for c in chains:
        if c:
            edges += list(zip(c, [*c[1:], FINAL], strict=True))
    nodes = [Node(i, m) for i, m in zip(ids, models, strict=True)]
    return CollabGraph.build(nodes, edges, final_model)


def family(models: Sequence[str], final_model: str) -> list[CollabGraph]:
    """A spread of layouts for one multiset of models (given smallest first), in both orders."""
    outs: list[CollabGraph] = []
    for seq in (tuple(models), tuple(reversed(models))):
        n = len(seq)
        outs.append(parallel(seq, final_model))
        outs.append(chain(seq, final_model))
        for w in range(2, n):
            outs.append(layered(seq, w, final_model))
            outs.append(parallel_chains(seq, w, final_model))
    unique = {g.digest: g for g in outs}
    return [unique[d] for d in sorted(unique)]
