"""Collaboration graphs: frozen values of agent nodes, edges and the fixed ``final`` sink.

A graph owns its structure only; budgets and model pools live in :mod:`suite.core.space`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from suite.core.errors import InfeasibleGraphError

FINAL = "final"
SCHEMA = "collab-graph/1"


class Role(StrEnum):
    """A node's role (PAPER.md §1): ``assistant`` = the code's IO, ``fuser`` = the code's REV."""

    ASSISTANT = "assistant"
    FUSER = "fuser"


class CallKind(StrEnum):
    """What a node's call does, which fixes its prompt template (PAPER.md §2)."""

    DIRECT = "direct"  # no predecessors: answer the question
    ASSISTANT = "assistant"  # assistant with predecessors: Mixture-of-Agents synthesis
    FUSER = "fuser"  # review, condense and fuse the predecessors' answers
    FINAL = "final"  # the sink's synthesis over every incoming answer


@dataclass(frozen=True, order=True)
class Node:
    """One agent node: a single chat call to ``model`` in ``role``; ids are ``n0``, ``n1``, ..."""

    id: str
    model: str
    role: Role = Role.ASSISTANT


def fuser_fault(pred_roles: Collection[Role]) -> str | None:
    """Why a fuser with these predecessor roles breaks the role rules (PAPER.md §1), or None.

    A fuser needs an assistant predecessor and may have no fuser predecessor.
    """
    if Role.FUSER in pred_roles:
        return "has a fuser predecessor"
    if Role.ASSISTANT not in pred_roles:
        return "has no assistant predecessor"
    return None


def _node_key(node_id: str) -> tuple[int, str]:
    """Sort ids numerically (``n2`` before ``n10``); ``final`` sorts last."""
    if node_id == FINAL:
        return (1 << 30, node_id)
    digits = node_id.lstrip("n")
    return (int(digits), node_id) if digits.isdigit() else (1 << 29, node_id)


@dataclass(frozen=True)
class CollabGraph:
    """A collaboration graph (PAPER.md §1): agent nodes, edges, and the fixed ``final`` node.

    Edges copy the source's answer into the destination's prompt. ``final`` is always an
    assistant running ``final_model``; nothing leaves it. A graph with no agent nodes is the
    single-model reference: ``final`` answers the question directly.

    Construct through :meth:`build`, which sorts nodes and edges into canonical order.
    """

    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]
    final_model: str
    _succ: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    _pred: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls, nodes: Iterable[Node], edges: Iterable[tuple[str, str]], final_model: str
    ) -> CollabGraph:
        """Make a graph in canonical order; checks ids and edge endpoints, not acyclicity."""
        node_list = sorted(nodes, key=lambda n: _node_key(n.id))
        ids = [n.id for n in node_list]
        if len(set(ids)) != len(ids) or FINAL in ids:
            raise InfeasibleGraphError(f"graph node ids must be unique and not '{FINAL}': {ids}")
        known = set(ids) | {FINAL}
        edge_set = {(str(s), str(d)) for s, d in edges}
        for src, dst in edge_set:
            if src not in known or dst not in known:
                raise InfeasibleGraphError(f"edge {src}->{dst} names an unknown node")
            if src == FINAL:
                raise InfeasibleGraphError(f"edge {src}->{dst} leaves '{FINAL}'; nothing may")
            if src == dst:
                raise InfeasibleGraphError(f"edge {src}->{dst} is a self-loop")
        edge_list = sorted(edge_set, key=lambda e: (_node_key(e[0]), _node_key(e[1])))
        succ: dict[str, list[str]] = {i: [] for i in [*ids, FINAL]}
        pred: dict[str, list[str]] = {i: [] for i in [*ids, FINAL]}
        for src, dst in edge_list:
            succ[src].append(dst)
            pred[dst].append(src)
        return cls(
            tuple(node_list),
            tuple(edge_list),
            final_model,
            {k: tuple(v) for k, v in succ.items()},
            {k: tuple(v) for k, v in pred.items()},
        )

    @classmethod
    def single(cls, model: str) -> CollabGraph:
        """The single-model reference graph: no agent nodes, ``final`` answers directly."""
        return cls.build([], [], model)

    # ---- structure -------------------------------------------------------------------------
    @property
    def node_ids(self) -> tuple[str, ...]:
        """Agent node ids in canonical order (``final`` excluded)."""
        return tuple(n.id for n in self.nodes)

    def node(self, node_id: str) -> Node:
        """The node with this id; ``final`` is returned as an assistant on ``final_model``."""
        if node_id == FINAL:
            return Node(FINAL, self.final_model, Role.ASSISTANT)
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise InfeasibleGraphError(f"graph has no node '{node_id}'")

    def preds(self, node_id: str) -> tuple[str, ...]:
        """Predecessors of a node (``final`` included as a valid id)."""
        return self._pred[node_id]

    def succs(self, node_id: str) -> tuple[str, ...]:
        """Successors of a node."""
        return self._succ[node_id]

    def call_kind(self, node_id: str) -> CallKind:
        """Direct when the node has no inputs, else by role (``final`` has its own kind)."""
        if not self._pred[node_id]:
            return CallKind.DIRECT
        if node_id == FINAL:
            return CallKind.FINAL
        return CallKind.FUSER if self.node(node_id).role is Role.FUSER else CallKind.ASSISTANT

    def model_counts(self) -> dict[str, int]:
        """How many agent nodes use each model (``final`` excluded), sorted by model name."""
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.model] = counts.get(n.model, 0) + 1
        return dict(sorted(counts.items()))

    def layers(self) -> list[tuple[str, ...]]:
        """Topological layers (Kahn); ``final`` is always alone in the last layer.

        Raises:
            InfeasibleGraphError: if the graph has a cycle.
        """
        if "layers" in self._memo:  # the graph is immutable: compute its layers once
            return list(self._memo["layers"])
        indeg = {i: len(self._pred[i]) for i in self.node_ids}
        ready = [i for i in self.node_ids if indeg[i] == 0]
        out: list[tuple[str, ...]] = []
        seen = 0
        while ready:
            out.append(tuple(ready))
            seen += len(ready)
            nxt: list[str] = []
            for i in ready:
                for j in self._succ[i]:
                    if j == FINAL:
                        continue
                    indeg[j] -= 1
                    if indeg[j] == 0:
                        nxt.append(j)
            ready = sorted(nxt, key=_node_key)
        if seen != len(self.nodes):
            raise InfeasibleGraphError("graph has a cycle; collaboration graphs must be DAGs")
        out.append((FINAL,))
        self._memo["layers"] = tuple(out)
        return list(out)

    def depths(self) -> dict[str, int]:
        """Longest path (in edges) from any root to each node, ``final`` included."""
        if "depths" not in self._memo:
            depth: dict[str, int] = {}
            for layer in self.layers():
                for i in layer:
                    depth[i] = max((depth[p] + 1 for p in self._pred[i]), default=0)
            self._memo["depths"] = depth
        return dict(self._memo["depths"])

    def reaches_final(self) -> frozenset[str]:
        """Ids of agent nodes with a path to ``final``: the nodes that run (PAPER.md §8)."""
        if "live" not in self._memo:
            seen: set[str] = set()
            stack = [FINAL]
            while stack:
                for p in self._pred[stack.pop()]:
                    if p not in seen:
                        seen.add(p)
                        stack.append(p)
            self._memo["live"] = frozenset(seen)
        live: frozenset[str] = self._memo["live"]
        return live

    def unused(self) -> tuple[str, ...]:
        """Ids of agent nodes with no path to ``final``, in canonical order.

        They are never executed nor charged (PAPER.md §8: the official ``Graph.run`` skips
        them; the budget is an upper bound, so a graph may leave part of its mix unused).
        """
        live = self.reaches_final()
        return tuple(i for i in self.node_ids if i not in live)

    def used(self) -> CollabGraph:
        """The graph without its :meth:`unused` nodes: what the executor runs and cost counts.

        A live node's predecessors are live too, so every in-degree (and ``final``'s) is kept.
        """
        if not self.unused():
            return self
        if "used" not in self._memo:
            live = self.reaches_final()
            nodes = [n for n in self.nodes if n.id in live]
            edges = [(s, d) for s, d in self.edges if s in live and (d in live or d == FINAL)]
            self._memo["used"] = CollabGraph.build(nodes, edges, self.final_model)
        used: CollabGraph = self._memo["used"]
        return used

    # ---- rules -----------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the structural rules of PAPER.md §1 (budgets are checked by the space).

        Acyclic; ``final`` has a predecessor unless the graph is the single-model reference;
        among the nodes that reach ``final``, at least one assistant, and every fuser has an
        assistant predecessor and no fuser predecessor. Nodes that cannot reach ``final``
        are allowed: they are :meth:`unused` (never run, never charged), and their roles are
        not checked, as the official ``check_role_constraints`` counts only useful nodes.

        Raises:
            InfeasibleGraphError: naming the first broken rule.
        """
        self.layers()
        if not self.nodes:
            return
        if not self._pred[FINAL]:
            raise InfeasibleGraphError(f"'{FINAL}' has no predecessor; add an edge into it")
        live = self.reaches_final()
        fault = self.role_fault({n.id: n.role for n in self.nodes if n.id in live})
        if fault is not None:
            raise InfeasibleGraphError(fault)

    def role_fault(self, roles: Mapping[str, Role] | None = None) -> str | None:
        """The first broken role rule (PAPER.md §1), or None when every rule holds.

        At least one assistant; every fuser has an assistant predecessor and no fuser
        predecessor (:func:`fuser_fault`).

        Args:
            roles: Roles to check, by node id (default: the nodes' own). Nodes left out, and
                predecessors left out, are not counted: samplers check only the nodes that
                reach ``final``.
        """
        if roles is None:
            roles = {n.id: n.role for n in self.nodes}
        if Role.ASSISTANT not in roles.values():
            return "graph has no assistant node; at least one is required"
        for node_id, role in roles.items():
            if role is not Role.FUSER:
                continue
            fault = fuser_fault([roles[p] for p in self._pred[node_id] if p in roles])
            if fault is not None:
                return f"fuser {node_id} {fault}"
        return None

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, in canonical order.

        Unused nodes (no path to ``final``) are kept, so the JSON and the :attr:`digest` name
        the graph as proposed: two graphs that differ only in unused nodes run and cost the
        same but have different digests. Compare ``graph.used()`` to ignore them.
        """
        return {
            "schema": SCHEMA,
            "final_model": self.final_model,
            "nodes": [{"id": n.id, "model": n.model, "role": n.role.value} for n in self.nodes],
            "edges": [[s, d] for s, d in self.edges],
        }

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces; equal graphs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON: the graph's key."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollabGraph:
        """Inverse of :meth:`to_dict`.

        Raises:
            InfeasibleGraphError: if fields are missing or of the wrong type.
        """
        try:
            nodes = [Node(str(n["id"]), str(n["model"]), Role(n["role"])) for n in data["nodes"]]
            edges = [(str(s), str(d)) for s, d in data["edges"]]
            final_model = str(data["final_model"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InfeasibleGraphError(
                f"not a collaboration graph ({type(exc).__name__}: {exc}); expected keys "
                "final_model, nodes [{id, model, role}], edges [[src, dst]]"
            ) from exc
        return cls.build(nodes, edges, final_model)

    @classmethod
    def from_json(cls, text: str) -> CollabGraph:
        """Parse canonical (or any equivalent) JSON."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InfeasibleGraphError(f"graph is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InfeasibleGraphError("graph JSON must be an object")
        return cls.from_dict(data)

    def as_text(self) -> str:
        """The one-line-per-node form agents read (PAPER.md §6), ``final`` last."""
        lines = []
        for i in [*self.node_ids, FINAL]:
            n = self.node(i)
            model = "FinalDecision" if i == FINAL else n.model
            preds = ", ".join(self._pred[i])
            succs = ", ".join(self._succ[i])
            role = n.role.value
            lines.append(
                f"Node {i} | model={model} | role={role} | preds=[{preds}] | succs=[{succs}]"
            )
        return "\n".join(lines)

    def describe(self) -> str:
        """A short human summary, e.g. ``3 nodes (2x llama-1b, 1x llama-8b), 4 edges, depth 2``."""
        if not self.nodes:
            return f"single model {self.final_model}"
        counts = ", ".join(f"{c}x {m}" for m, c in self.model_counts().items())
        fusers = sum(n.role is Role.FUSER for n in self.nodes)
        depth = self.depths()[FINAL]
        unused = f", {len(self.unused())} unused" if self.unused() else ""
        return (
            f"{_count(len(self.nodes), 'node')} ({counts}){unused}, {_count(fusers, 'fuser')}, "
            f"{_count(len(self.edges), 'edge')}, depth {depth}, final={self.final_model}"
        )


def _count(n: int, noun: str) -> str:
    """``1 node``, ``2 nodes``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
