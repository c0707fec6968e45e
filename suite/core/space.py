"""The search space: model pool, candidate edges, budget rule, mix enumeration and repair.

A GraphSpace is built once per run from config and shared read-only by every component.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from suite.core.cost import ModelSpec, TokenProfile, cap_flops, graph_flops, graph_latency_s
from suite.core.errors import ConfigError, InfeasibleGraphError
from suite.core.graph import FINAL, CollabGraph, Node, Role, fuser_fault

_MAX_MIXES = 200_000  # u48 over the largest pool enumerates far fewer

Mix = tuple[int, ...]
"""Node counts per model, aligned with ``GraphSpace.models`` (smallest model first)."""

Edge = tuple[str, str]
"""A directed edge ``(src, dst)`` between node ids (``final`` only as ``dst``)."""


@dataclass(frozen=True)
class ModelPick:
    """One step of the budget walk (:meth:`GraphSpace.pick_models`).

    Attributes:
        slot: The slot's index into ``GraphSpace.node_ids``.
        node_id: The slot's id, ``n<slot>``.
        affordable: Pool indices of the models that fit the budget left at this step.
        model: The pool index the slot took (one of ``affordable``).
    """

    slot: int
    node_id: str
    affordable: tuple[int, ...]
    model: int


@dataclass(frozen=True)
class GraphSpace:
    """Everything a searcher may know about what graphs are allowed (PAPER.md §1, §3).

    Attributes:
        task: Task name (its token profile and unit costs are already resolved).
        models: The pool, sorted by size class, smallest first.
        final_model: The fixed model of the ``final`` node (the paper hard-codes the 3B).
        budget_units: Integer budget in smallest-model calls; agent nodes' unit costs sum to
            at most this (``final`` is not counted, as in the paper's mix rule).
        tokens: The task's average input/output token counts.
    """

    task: str
    models: tuple[ModelSpec, ...]
    final_model: str
    budget_units: int
    tokens: TokenProfile

    def __post_init__(self) -> None:
        names = [m.name for m in self.models]
        if not names:
            raise ConfigError(
                "the model pool is empty; list at least one model in pool/<name>.yaml"
            )
        if len(set(names)) != len(names):
            raise ConfigError(f"the model pool lists a model twice: {names}")
        if self.final_model not in names:
            raise ConfigError(
                f"final_model '{self.final_model}' is not in the pool {names}; set pool.final_model"
            )
        cheapest = min(m.unit_cost for m in self.models)
        if cheapest <= 0:
            raise ConfigError("every model's unit cost must be a positive integer")
        if self.budget_units < cheapest:
            raise ConfigError(
                f"budget of {self.budget_units} units is too small for any model in the pool "
                f"(cheapest costs {cheapest}); use budget.units>={cheapest}"
            )

    # ---- pool ------------------------------------------------------------------------------
    @cached_property
    def specs(self) -> dict[str, ModelSpec]:
        """Model specs by name."""
        return {m.name: m for m in self.models}

    @property
    def model_names(self) -> tuple[str, ...]:
        """Pool model names, smallest first."""
        return tuple(m.name for m in self.models)

    @cached_property
    def max_nodes(self) -> int:
        """N, the number of agent-node slots: the most nodes any feasible mix can hold."""
        return max(sum(mix) for mix in self.feasible_mixes())

    @cached_property
    def node_ids(self) -> tuple[str, ...]:
        """Slot ids ``n0 .. n{N-1}``."""
        return tuple(f"n{i}" for i in range(self.max_nodes))

    @cached_property
    def slot_index(self) -> dict[str, int]:
        """Each slot id's position in :attr:`node_ids` (its row in the logit arrays)."""
        return {sid: k for k, sid in enumerate(self.node_ids)}

    @cached_property
    def candidate_edges(self) -> tuple[Edge, ...]:
        """The N(N-1) ordered pairs of distinct slots, then each slot into ``final`` (§1)."""
        ids = self.node_ids
        pairs = [(a, b) for a in ids for b in ids if a != b]
        return tuple(pairs + [(a, FINAL) for a in ids])

    @cached_property
    def edge_index(self) -> dict[Edge, int]:
        """Each candidate edge's position in :attr:`candidate_edges`."""
        return {e: k for k, e in enumerate(self.candidate_edges)}

    def edges_among(self, node_ids: Iterable[str]) -> tuple[Edge, ...]:
        """The candidate edges whose both ends are in ``node_ids`` or ``final``, in order."""
        keep = {*node_ids, FINAL}
        return tuple((s, d) for s, d in self.candidate_edges if s in keep and d in keep)

    @cached_property
    def cap_flops(self) -> float:
        """The graph FLOPs cap (PAPER.md §3): reference complete DAG of budget+1 nodes."""
        smallest = min(self.models, key=lambda m: (m.size_rank, m.params))
        return cap_flops(self.budget_units, smallest, self.specs[self.final_model], self.tokens)

    # ---- the budget rule -------------------------------------------------------------------
    def affordable(self, left_units: int) -> tuple[int, ...]:
        """Pool indices of the models whose unit cost fits ``left_units``, in pool order."""
        return tuple(k for k, m in enumerate(self.models) if m.unit_cost <= left_units)

    def pick_models(
        self, order: Iterable[int], choose: Callable[[int, tuple[int, ...]], int]
    ) -> tuple[ModelPick, ...]:
        """Give slots models while the budget lasts (PAPER.md §4 step 2).

        Slots are visited in ``order``; each takes ``choose(slot, affordable)``, one of the
        pool indices that still fit the budget left. The walk stops at the first slot no
        model fits: the budget only shrinks, so no later slot fits either.

        Returns:
            The steps taken, in visiting order.
        """
        left, picks = self.budget_units, []
        for slot in order:
            affordable = self.affordable(left)
            if not affordable:
                break
            k = choose(slot, affordable)
            picks.append(ModelPick(slot, self.node_ids[slot], affordable, k))
            left -= self.models[k].unit_cost
        return tuple(picks)

    def replay_models(
        self, order: Iterable[int], models: Mapping[str, str]
    ) -> tuple[ModelPick, ...]:
        """The budget walk that gives slots ``models`` (node id -> model name) in ``order``.

        Raises:
            InfeasibleGraphError: if the walk cannot produce them: a slot it visits has no
                model, or its model does not fit the budget left.
        """
        index = {m.name: k for k, m in enumerate(self.models)}

        def given(slot: int, affordable: tuple[int, ...]) -> int:
            node_id = self.node_ids[slot]
            if node_id not in models:
                raise InfeasibleGraphError(f"slot {node_id} has no model")
            k = index[models[node_id]]
            if k not in affordable:
                raise InfeasibleGraphError(f"{models[node_id]} does not fit the budget left")
            return k

        return self.pick_models(order, given)

    # ---- mixes -----------------------------------------------------------------------------
    def feasible_mixes(self) -> tuple[Mix, ...]:
        """Least-leftover mixes (PAPER.md §3): larger models' counts enumerated, smallest fills.

        Returns every distinct mix whose leftover budget is the minimum, in enumeration order
        (largest model's count outermost, ascending).
        """
        return self._feasible_mixes

    @cached_property
    def _feasible_mixes(self) -> tuple[Mix, ...]:
        """:meth:`feasible_mixes`, enumerated once (searchers draw from it every proposal)."""
        order = sorted(range(len(self.models)), key=lambda i: -self.models[i].size_rank)
        filler, larger = order[-1], order[:-1]
        mixes: list[tuple[int, Mix]] = []

        def rec(k: int, left: int, counts: list[int]) -> None:
            if len(mixes) > _MAX_MIXES:  # bounds time and memory; a budget this big is refused
                raise ConfigError(
                    f"budget.units={self.budget_units} gives more than {_MAX_MIXES} model mixes "
                    "to enumerate; choose a smaller budget (e.g. budget=u48)"
                )
            if k == len(larger):
                cost = self.models[filler].unit_cost
                full = list(counts)
                full[filler] = left // cost
                mixes.append((left - full[filler] * cost, tuple(full)))
                return
            idx = larger[k]
            for c in range(left // self.models[idx].unit_cost + 1):
                counts[idx] = c
                rec(k + 1, left - c * self.models[idx].unit_cost, counts)
            counts[idx] = 0

        rec(0, self.budget_units, [0] * len(self.models))
        best = min(left for left, _ in mixes)
        # a dict keeps first-seen order and drops repeats in linear time (a list scan was O(n^2))
        out = dict.fromkeys(mix for left, mix in mixes if left == best and sum(mix) > 0)
        return tuple(out)

    def mix_of(self, graph: CollabGraph) -> Mix:
        """The graph's node counts per pool model (unused nodes included: the declared mix)."""
        counts = graph.model_counts()
        return tuple(counts.get(name, 0) for name in self.model_names)

    def mix_names(self, mix: Mix) -> tuple[str, ...]:
        """A mix's models, one entry per node, in pool order (smallest first)."""
        return tuple(m for m, c in zip(self.model_names, mix, strict=True) for _ in range(c))

    def mix_units(self, mix: Mix) -> int:
        """Budget units a mix spends."""
        return sum(c * m.unit_cost for c, m in zip(mix, self.models, strict=True))

    def format_mix(self, mix: Mix) -> str:
        """``{llama-3.2-1b: 3, llama-3.1-8b: 1}``-style text (zero counts left out)."""
        parts = [f"{m}: {c}" for m, c in zip(self.model_names, mix, strict=True) if c]
        return "{" + ", ".join(parts) + "}"

    # ---- graphs ----------------------------------------------------------------------------
    def units(self, graph: CollabGraph) -> int:
        """Budget units of the agent nodes that run (unused nodes are not charged, §8)."""
        return self.mix_units(self.mix_of(graph.used()))

    def flops(self, graph: CollabGraph) -> float:
        """Estimated FLOPs of one execution of the graph (PAPER.md §3)."""
        return graph_flops(graph, self.specs, self.tokens)

    def latency_s(self, graph: CollabGraph) -> float:
        """Estimated latency of one execution from the pool's throughput profiles."""
        return graph_latency_s(graph, self.specs, self.tokens)

    def check(self, graph: CollabGraph, *, allow_single: bool = False, cap: bool = True) -> None:
        """Raise unless the graph is a feasible member of this space.

        Args:
            graph: The graph to check.
            allow_single: Accept the single-model reference graph (no agent nodes), which
                searchers never propose but ``suite.evaluate`` runs.
            cap: Enforce the FLOPs cap (False only for Agent-REINFORCE's pre-test graphs,
                which the official code runs uncapped, PAPER.md §6 step 3).

        Raises:
            InfeasibleGraphError: naming the first broken rule.
        """
        graph.validate()
        unknown = sorted({n.model for n in graph.nodes} - set(self.model_names))
        if unknown:
            raise InfeasibleGraphError(f"graph uses models not in the pool: {unknown}")
        if not graph.nodes:
            if not allow_single:
                raise InfeasibleGraphError("graph has no agent nodes")
            if graph.final_model not in self.specs:
                raise InfeasibleGraphError(
                    f"model '{graph.final_model}' is not in the pool; "
                    f"choose one of: {', '.join(self.model_names)}"
                )
            return
        if graph.final_model != self.final_model:
            raise InfeasibleGraphError(
                f"final node runs {graph.final_model}; this space fixes it to {self.final_model} "
                f"(pass pool.final_model={graph.final_model} to evaluate it)"
            )
        if self.units(graph) > self.budget_units:
            raise InfeasibleGraphError(
                f"graph spends {self.units(graph)} units; the budget is {self.budget_units}"
            )
        if cap and self.flops(graph) > self.cap_flops:
            raise InfeasibleGraphError(
                f"graph costs {self.flops(graph):.3e} FLOPs; the cap is {self.cap_flops:.3e}"
            )

    def is_feasible(self, graph: CollabGraph) -> bool:
        """True when :meth:`check` passes."""
        try:
            self.check(graph)
        except InfeasibleGraphError:
            return False
        return True

    def repair(
        self, graph: CollabGraph, rng: np.random.Generator
    ) -> tuple[CollabGraph, tuple[str, ...]]:
        """Delete smallest-class nodes until units and FLOPs fit (``ensure_within_budget``, §3).

        Each round deletes one node drawn at random among the *running* nodes of the smallest
        size class (the official code draws among all nodes, but unused ones cost nothing
        here, so deleting one would not help). Fusers that lost their assistant input become
        assistants. Nodes with no path to ``final`` stay unused: they are not wired into it
        (PAPER.md §8), except when ``final`` is left with no input at all, when the nodes
        without successors are (a suite rule: the official code would run ``final`` alone).

        Returns:
            The repaired graph and the ids of the deleted nodes, in deletion order.

        Raises:
            InfeasibleGraphError: if nothing is left (the budget cannot hold any graph).
        """
        deleted: list[str] = []
        current = _mend(graph)
        while current.used().nodes and (
            self.units(current) > self.budget_units or self.flops(current) > self.cap_flops
        ):
            running = current.used().nodes
            rank = min(self.specs[n.model].size_rank for n in running)
            pool = [n.id for n in running if self.specs[n.model].size_rank == rank]
            victim = pool[int(rng.integers(len(pool)))]
            deleted.append(victim)
            nodes = [n for n in current.nodes if n.id != victim]
            edges = [e for e in current.edges if victim not in e]
            current = _mend(CollabGraph.build(nodes, edges, current.final_model))
        if not current.used().nodes:
            raise InfeasibleGraphError(
                f"no graph of this pool fits the {self.budget_units}-unit budget and FLOPs cap"
            )
        self.check(current)
        return current, tuple(deleted)


def _mend(graph: CollabGraph) -> CollabGraph:
    """Demote fusers that break the role rules; give an input-less ``final`` its sinks.

    Nodes that cannot reach ``final`` are left unused, not wired into it; only when
    ``final`` has no predecessor at all are the nodes without successors wired into it.
    """
    edges = set(graph.edges)
    if graph.nodes and not graph.preds(FINAL):
        edges |= {(i, FINAL) for i in graph.node_ids if not graph.succs(i)}
    wired = CollabGraph.build(graph.nodes, edges, graph.final_model)
    live = wired.reaches_final()
    roles: dict[str, Role] = {}
    for layer in wired.layers()[:-1]:
        for i in layer:
            role = wired.node(i).role
            pred_roles = [roles[p] for p in wired.preds(i) if p in live]
            if i in live and role is Role.FUSER and fuser_fault(pred_roles) is not None:
                role = Role.ASSISTANT
            roles[i] = role
    nodes = [Node(n.id, n.model, roles[n.id]) for n in wired.nodes]
    return CollabGraph.build(nodes, wired.edges, wired.final_model)
