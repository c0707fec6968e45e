"""The rules of the ``heuristic`` agent: the paper's insights (PAPER.md §7) as deterministic code.

The agent reads only the rendered chat (exactly what an LLM receives) and writes the text a
real agent must write, so every searcher that uses it runs the text path end to end. Insight
rules apply only when the prompt carries insights (TextGrad's prompt does not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.prompts import Message
from suite.search import table_agent
from suite.search.llm_search import NODE_LINE, ROLES, mix_vector, role_text

MAX_IN_DEGREE = 3  # Insight 2: long contexts hurt; keep in-degree small
MAX_DEPTH = 3  # Insight 2: deep chains let later nodes overwrite right answers
STEP = 0.25  # how far one round moves an edge probability
_ROW = re.compile(r"(\d+):\s*src=(\w+),\s*dst=(\w+),\s*prob=([0-9.]+)")
_PLACEHOLDER = "FinalDecision"  # graphs read from text do not know the final node's model

Row = tuple[int, str, str, float]


def reply(messages: Sequence[Message]) -> str:
    """The heuristic agent's reply to one chat, read from its last user message."""
    user = messages[-1][1]
    if "Last-round role-probabilities:" in user:  # maao's table rewrite (it shows a graph too)
        return table_agent.heuristic_reply(messages)
    if "Last-round graph:" in user:
        return _update(user)
    if "Candidate model mixes" in user:
        return _init(user)
    if "The best graphs so far" in user:
        return _propose(user)
    return "I cannot help with that request."


# ---- reading the prompt ------------------------------------------------------------------------
def _section(text: str, start: str, end: str) -> str:
    """The text between the line containing ``start`` and the next containing ``end``."""
    head = text.index(start) + len(start)
    stop = text.find(end, head)
    return text[head : stop if stop >= 0 else len(text)]


def _percent(text: str, label: str) -> float | None:
    """The percentage after ``label`` (as a fraction), or None when it shows none."""
    match = re.search(re.escape(label) + r"\s*([0-9.]+)%", text)
    return None if match is None else float(match[1]) / 100


def _graph(text: str) -> CollabGraph:
    """The node lines of ``text`` as a graph (``final``'s line gives its predecessors)."""
    nodes, edges = [], []
    for node_id, model, role, preds in NODE_LINE.findall(text):
        if node_id != FINAL:
            nodes.append(Node(node_id, model.strip(), ROLES[role.lower()]))
        edges += [(p, node_id) for p in re.findall(r"\w+", preds)]
    return CollabGraph.build(nodes, edges, _PLACEHOLDER)


def _counts(text: str) -> list[tuple[str, int]]:
    """A ``{name: count, ...}`` mix as (name, count) pairs in the order shown (pool order)."""
    return [(m.strip(), int(c)) for m, c in re.findall(r"([^{},]+?):\s*(\d+)", text)]


# ---- init: Insight 1 -------------------------------------------------------------------------
def _init(user: str) -> str:
    """Insight 1: keep the best-measured mix, and the mix that leans on the best single model."""
    keys = _section(user, "keyed by pool index", "\n")
    names = [m.strip() for _, m in re.findall(r"(\d+)=([^,]+?)(?=,|\):)", keys)]
    mixes = [
        tuple(int(v[str(k)]) for k in range(len(names)))
        for v in map(json.loads, re.findall(r"\{[^{}]*\}", _section(user, keys, "Reply with")))
    ]
    data = _section(user, "pilot stage", "Candidate model mixes")
    singles = {m: float(a) for m, a in re.findall(r"- single (\S+): ([0-9.]+)%", data)}
    measured: dict[tuple[int, ...], float] = {}
    for mix_text, acc in re.findall(r"- random graph with mix (\{[^}]*\}): ([0-9.]+)%", data):
        counts = dict(_counts(mix_text))
        measured[tuple(counts.get(n, 0) for n in names)] = float(acc)
    first = max(mixes, key=lambda m: (measured.get(m, -1.0), -sum(m)))
    best_model = max(names, key=lambda n: (singles.get(n, -1.0), names.index(n)))
    k = names.index(best_model)
    rest = [m for m in mixes if m != first] or mixes
    second = max(rest, key=lambda m: (m[k], measured.get(m, -1.0), -sum(m)))
    return "\n".join(mix_vector(m) for m in (first, second))


# ---- update: R-4, then Insights 2 and 3 --------------------------------------------------------
def _update(user: str) -> str:
    """R-4 on the table, then the next graph from it; Insights 2/3 only if the prompt has them."""
    graph = _graph(_section(user, "Last-round graph:", "Last-round edge-probabilities:"))
    rows = [
        (int(k), s, d, float(p))
        for k, s, d, p in _ROW.findall(_section(user, "Last-round edge-probabilities:", "Rules:"))
    ]
    accuracy = _percent(user, "Last-round batch accuracy:") or 0.0
    best = _percent(user, "Best batch accuracy of earlier rounds:")
    insights = "\nInsights:" in user
    table = _nudge(rows, set(graph.edges), best is None or accuracy >= best, insights)
    order = [m for m, _ in _counts(_section(user, "Model mix (fixed):", "\n"))]
    nodes = _next_graph(graph, table, order, insights)
    lines = ["Graph:", nodes, "Edge-probabilities:"]
    lines += [f"{k}: src={s}, dst={d}, prob={p:.3f}" for k, s, d, p in table]
    return "\n".join(lines)


def _nudge(rows: list[Row], used: set[tuple[str, str]], improved: bool, explore: bool) -> list[Row]:
    """R-4: raise the last graph's edges if it helped, else lower them.

    With the insights ("grow outward from FinalDecision") a poor round also raises the
    likeliest unused edge into FinalDecision.
    """
    table: list[Row] = []
    for k, src, dst, p in rows:
        if (src, dst) in used:
            p = p + STEP if improved else p - STEP
        table.append((k, src, dst, min(0.98, max(0.02, p))))
    unused = [t for t in table if t[2] == FINAL and (t[1], t[2]) not in used]
    if explore and not improved and unused:
        k, src, dst, p = max(unused, key=lambda t: t[3])
        table[table.index((k, src, dst, p))] = (k, src, dst, min(0.98, p + STEP))
    return table


def _next_graph(last: CollabGraph, table: Sequence[Row], order: list[str], insights: bool) -> str:
    """The next graph's node lines: edges with p > 0.5, likeliest first, then models and roles.

    Edges stay acyclic and, with the insights, within the in-degree and depth limits; a node
    left without a successor answers FinalDecision.
    """
    ids = list(last.node_ids)
    edges: list[tuple[str, str]] = []
    for _, src, dst, p in sorted(table, key=lambda t: -t[3]):
        trial = [*edges, (src, dst)]
        if p > 0.5 and _ok(ids, trial, limits=insights):
            edges = trial
    edges += [(i, FINAL) for i in ids if not any(s == i for s, _ in edges)]
    if not insights:  # no insight says where models go: they stay; fusers need an IO input
        kept = CollabGraph.build(last.nodes, edges, _PLACEHOLDER)
        return role_text(_roles(kept, {n.id: n.model for n in last.nodes}, keep=True))
    indeg = {i: sum(d == i for _, d in edges) for i in ids}
    # Insight 3: larger models (later in the pool's order) where more inputs arrive
    models = sorted((n.model for n in last.nodes), key=lambda m: -order.index(m))
    chosen = dict(zip(sorted(ids, key=lambda i: (-indeg[i], ids.index(i))), models, strict=True))
    wired = CollabGraph.build([Node(i, chosen[i]) for i in ids], edges, _PLACEHOLDER)
    return role_text(_roles(wired, chosen, keep=False))


def _roles(graph: CollabGraph, models: Mapping[str, str], keep: bool) -> CollabGraph:
    """Roles layer by layer, within the role rules (a fuser needs an IO input, no fuser one).

    With ``keep`` a fuser of the last graph stays one where it may; without it a multi-input
    node fuses its assistants' answers.
    """
    roles = dict.fromkeys(graph.node_ids, Role.ASSISTANT)
    for layer in graph.layers()[:-1]:
        for i in layer:
            preds = [roles[p] for p in graph.preds(i)]
            wants = graph.node(i).role is Role.FUSER if keep else len(preds) >= 2
            if wants and Role.ASSISTANT in preds and Role.FUSER not in preds:
                roles[i] = Role.FUSER
    nodes = [Node(i, models[i], roles[i]) for i in graph.node_ids]
    return CollabGraph.build(nodes, graph.edges, _PLACEHOLDER)


def _ok(ids: list[str], edges: list[tuple[str, str]], limits: bool = True) -> bool:
    """Acyclic and, with ``limits``, in-degree <= MAX_IN_DEGREE and depth <= MAX_DEPTH.

    Depth is :meth:`CollabGraph.depths`' longest path, ``final`` included. Computed on plain
    dicts (Kahn's order): this runs for every candidate edge, and building a graph for each
    was most of a sim sweep's time. Edges a graph refuses (unknown ids, self-loops, edges
    out of ``final``) raise as :meth:`CollabGraph.build` does.
    """
    known = {*ids, FINAL}
    edge_set = set(edges)
    if any(s not in known or d not in known or s in (d, FINAL) for s, d in edge_set):
        CollabGraph.build([Node(i, "m") for i in ids], edges, "m")  # raises, naming the edge
    preds: dict[str, list[str]] = {i: [] for i in known}
    succs: dict[str, list[str]] = {i: [] for i in ids}
    for src, dst in edge_set:
        preds[dst].append(src)
        if dst != FINAL:
            succs[src].append(dst)
    waiting = {i: len(preds[i]) for i in ids}
    ready = [i for i in ids if not waiting[i]]
    depth: dict[str, int] = {}
    while ready:
        node = ready.pop()
        depth[node] = max((depth[p] + 1 for p in preds[node]), default=0)
        for nxt in succs[node]:
            waiting[nxt] -= 1
            if not waiting[nxt]:
                ready.append(nxt)
    if len(depth) != len(ids):  # a cycle
        return False
    if not limits:
        return True
    depth[FINAL] = max((depth[p] + 1 for p in preds[FINAL]), default=0)
    indeg_ok = all(len(preds[i]) <= MAX_IN_DEGREE for i in known)
    return indeg_ok and max(depth.values()) <= MAX_DEPTH


# ---- propose: OPRO-style -----------------------------------------------------------------------
def _propose(user: str) -> str:
    """Change the best graph shown in one way: more depth, more width, or a bigger model.

    The first change that gives a graph not already shown is written.
    """
    budget = int(re.search(r"Budget:\s*(\d+) units", user)[1])  # type: ignore[index]
    costs = {m: int(c) for m, c in re.findall(r"([\w.\-/]+)=(\d+)", _section(user, "costs:", "\n"))}
    blocks = re.split(r"Accuracy [0-9.]+%:", _section(user, "higher is better):", "Write a new"))
    shown = [_graph(b) for b in blocks if NODE_LINE.search(b)]
    best = shown[0]
    seen = {role_text(g) for g in shown}
    for change in (_deeper, _wider, _bigger):
        graph = change(best, budget, costs)
        if role_text(graph) not in seen:
            break
    return "Graph:\n" + role_text(graph)


def _deeper(best: CollabGraph, budget: int, costs: Mapping[str, int]) -> CollabGraph:
    """Add the first missing edge (src, then dst, in node order) that keeps the limits.

    An added edge never lowers an in-degree or a depth, nor breaks a cycle, so nothing fits
    when ``best`` breaks the limits. Otherwise ``src -> dst`` fits when ``dst`` does not reach
    ``src`` (acyclic), ``dst`` has room for one more input, and the longest path through the
    new edge (depth of ``src`` + 1 + longest path down from ``dst``) stays within MAX_DEPTH.
    """
    ids, edges = list(best.node_ids), list(best.edges)
    if not _ok(ids, edges):
        return best
    depth = best.depths()
    below: dict[str, int] = {FINAL: 0}  # longest path from a node down to a sink
    reach: dict[str, set[str]] = {FINAL: set()}  # nodes a node reaches
    for layer in reversed(best.layers()[:-1]):
        for i in layer:
            below[i] = max((below[j] + 1 for j in best.succs(i)), default=0)
            reach[i] = {j for k in best.succs(i) for j in (k, *reach[k])}
    taken = set(edges)
    for src in ids:
        for dst in ids:
            if (
                src != dst
                and (src, dst) not in taken
                and src not in reach[dst]
                and len(best.preds(dst)) < MAX_IN_DEGREE
                and depth[src] + 1 + below[dst] <= MAX_DEPTH
            ):
                return CollabGraph.build(best.nodes, [*edges, (src, dst)], _PLACEHOLDER)
    return best


def _wider(best: CollabGraph, budget: int, costs: Mapping[str, int]) -> CollabGraph:
    """Every node also answers FinalDecision, within the in-degree limit."""
    ids, edges = list(best.node_ids), list(best.edges)
    for i in ids:
        if (i, FINAL) not in edges and _ok(ids, [*edges, (i, FINAL)]):
            edges.append((i, FINAL))
    return CollabGraph.build(best.nodes, edges, _PLACEHOLDER)


def _bigger(best: CollabGraph, budget: int, costs: Mapping[str, int]) -> CollabGraph:
    """Upgrade the cheapest node to the next model that still fits the budget."""
    nodes = list(best.nodes)
    spare = budget - sum(costs[n.model] for n in nodes)
    for k, n in sorted(enumerate(nodes), key=lambda kn: costs[kn[1].model]):
        bigger = [m for m, c in costs.items() if costs[n.model] < c <= spare + costs[n.model]]
        if bigger:
            nodes[k] = Node(n.id, bigger[0], n.role)
            break
    return CollabGraph.build(nodes, best.edges, _PLACEHOLDER)
