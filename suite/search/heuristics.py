"""The rules of the ``heuristic`` agent: the paper's insights (PAPER.md §7) as deterministic code.

Each rule reads a request's structured fields and writes the text a real agent must write, so
the searchers parse it exactly as they parse an LLM's reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.core.space import GraphSpace
from suite.search.llm_search import mix_vector, role_text

MAX_IN_DEGREE = 3  # Insight 2: long contexts hurt; keep in-degree small
MAX_DEPTH = 3  # Insight 2: deep chains let later nodes overwrite right answers
STEP = 0.25  # how far one round moves an edge probability


def reply(purpose: str, fields: Mapping[str, Any], space: GraphSpace) -> str:
    """The heuristic agent's reply to one request."""
    if purpose == "init":
        return _init(fields)
    if purpose == "update":
        return _update(fields, space)
    if purpose == "propose":
        return _propose(fields, space)
    return "I cannot help with that request."


def _init(fields: Mapping[str, Any]) -> str:
    """Insight 1: keep the best-measured mix, and the mix that leans on the best single model."""
    mixes = [tuple(m) for m in fields["mixes"]]
    measured = {tuple(m): float(a) for m, a in fields.get("mix_accuracy", [])}
    singles = {str(k): float(v) for k, v in fields.get("singles", {}).items()}
    names = list(fields["model_names"])
    first = max(mixes, key=lambda m: (measured.get(m, -1.0), -sum(m)))
    best_model = max(names, key=lambda n: (singles.get(n, -1.0), names.index(n)))
    k = names.index(best_model)
    rest = [m for m in mixes if m != first] or mixes
    second = max(rest, key=lambda m: (m[k], measured.get(m, -1.0), -sum(m)))
    return "\n".join(mix_vector(m) for m in (first, second))


def _update(fields: Mapping[str, Any], space: GraphSpace) -> str:
    """R-4 on the table, then the next graph from it under Insights 2 and 3."""
    graph = CollabGraph.from_dict(fields["graph"])
    used = set(graph.edges)
    improved = float(fields["accuracy"]) >= float(fields["best_accuracy"])
    table: list[tuple[str, str, float]] = []
    for src, dst, p in fields["table"]:
        if (src, dst) in used:
            p = p + STEP if improved else p - STEP
        table.append((src, dst, min(0.98, max(0.02, p))))
    if not improved:  # explore: the likeliest unused edge into FinalDecision gains
        unused = [t for t in table if t[1] == FINAL and (t[0], t[1]) not in used]
        if unused:
            src, dst, p = max(unused, key=lambda t: t[2])
            table[table.index((src, dst, p))] = (src, dst, min(0.98, p + STEP))
    nodes = _next_graph(
        list(fields["node_ids"]), table, list(fields["mix"]), space, dict(fields["sizes"])
    )
    lines = ["Graph:", nodes, "Edge-probabilities:"]
    index = {e: k for k, e in enumerate(space.candidate_edges)}
    lines += [f"{index[(s, d)]}: src={s}, dst={d}, prob={p:.3f}" for s, d, p in table]
    return "\n".join(lines)


def _next_graph(
    ids: list[str],
    table: Sequence[tuple[str, str, float]],
    mix: list[int],
    space: GraphSpace,
    sizes: Mapping[str, int],
) -> str:
    """Edges with p >= 0.5, likeliest first, within in-degree and depth limits; then models."""
    edges: list[tuple[str, str]] = []
    for src, dst, p in sorted(table, key=lambda t: -t[2]):
        if p < 0.5:
            break
        trial = [*edges, (src, dst)]
        if _ok(ids, trial):
            edges = trial
    sinks = [i for i in ids if not any(s == i for s, _ in edges)]
    edges += [(i, FINAL) for i in sinks]
    indeg = {i: sum(d == i for _, d in edges) for i in ids}
    # larger models where more inputs arrive
    models = sorted(space.mix_names(tuple(mix)), key=lambda m: -sizes.get(m, 0))
    order = sorted(ids, key=lambda i: (-indeg[i], ids.index(i)))
    chosen = dict(zip(order, models, strict=False))
    roles = dict.fromkeys(ids, Role.ASSISTANT)
    graph = CollabGraph.build([Node(i, chosen[i]) for i in ids], edges, space.final_model)
    for layer in graph.layers()[:-1]:
        for i in layer:
            preds = [roles[p] for p in graph.preds(i)]
            if len(preds) >= 2 and Role.FUSER not in preds:
                roles[i] = Role.FUSER  # a multi-input node fuses its assistants' answers
    final = CollabGraph.build([Node(i, chosen[i], roles[i]) for i in ids], edges, space.final_model)
    return role_text(final)


def _ok(ids: list[str], edges: list[tuple[str, str]]) -> bool:
    """Acyclic, in-degree <= MAX_IN_DEGREE and depth <= MAX_DEPTH."""
    graph = CollabGraph.build([Node(i, "m") for i in ids], edges, "m")
    try:
        depths = graph.depths()
    except Exception:  # a cycle
        return False
    indeg_ok = all(len(graph.preds(i)) <= MAX_IN_DEGREE for i in [*ids, FINAL])
    return indeg_ok and max(depths.values()) <= MAX_DEPTH


def _propose(fields: Mapping[str, Any], space: GraphSpace) -> str:
    """OPRO-style: take the best graph so far and change one thing, by round."""
    history = fields["history"]
    best = CollabGraph.from_dict(history[0][0])
    step = int(fields["round"]) % 3
    nodes = list(best.nodes)
    edges = set(best.edges)
    ids = [n.id for n in nodes]
    if step == 0:  # add the first missing edge that keeps the limits (more depth)
        for src in ids:
            for dst in ids:
                if src != dst and (src, dst) not in edges and _ok(ids, [*edges, (src, dst)]):
                    edges.add((src, dst))
                    break
            else:
                continue
            break
    elif step == 1:  # widen: every node also answers FinalDecision, within the in-degree limit
        for i in ids:
            if _ok(ids, [*edges, (i, FINAL)]):
                edges.add((i, FINAL))
    else:  # upgrade the smallest node to the next model that still fits the budget
        spare = space.budget_units - space.units(best)
        for k, n in sorted(enumerate(nodes), key=lambda kn: space.specs[kn[1].model].size_rank):
            cost = space.specs[n.model].unit_cost
            fits = [space.models[j] for j in space.affordable(spare + cost)]
            bigger = [m for m in fits if m.unit_cost > cost]
            if bigger:
                nodes[k] = Node(n.id, bigger[0].name, n.role)
                break
    graph = CollabGraph.build(nodes, edges, space.final_model)
    return "Graph:\n" + role_text(graph)
