"""GraphDistribution: the probabilistic graph every searcher shares (PAPER.md §4).

It holds edge, role and model logits and knows how to sample graphs, score them and render
them as the text table an LLM agent rewrites. Searchers own the updates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.core.edges import EdgeWalk
from suite.core.errors import InfeasibleGraphError, ProposalParseError
from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.core.space import Edge, GraphSpace, Mix, ModelPick

ROLES = (Role.ASSISTANT, Role.FUSER)
_P_MIN = 1e-4


@dataclass(frozen=True)
class Draw:
    """One sampled realisation.

    Attributes:
        graph: The executable graph: nodes that cannot reach ``final`` are pruned.
        full: Every kept slot with its edges (pruned nodes included); ``log_prob`` scores this.
        order: The shuffled slot order used to assign models (step 1 of §4).
        mix: The fixed mix the draw was conditioned on, or None when models were sampled.
        log_prob: log p(models) + sum log p(edge decisions) + sum log p(roles).
        role_fallback: True when 2,000 role draws failed and all nodes became assistants.
    """

    graph: CollabGraph
    full: CollabGraph
    order: tuple[int, ...]
    mix: Mix | None
    log_prob: float
    role_fallback: bool = False


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return np.asarray(z / z.sum())


class GraphDistribution:
    """Edge, role and model logits over a :class:`GraphSpace` (PAPER.md §4).

    Edge probability is ``sigmoid(logit - edge_shift)`` (shift 2/T with T = 1, so about 0.12
    at the zero start); roles and models are softmaxes. Call :meth:`sample` for a graph and
    its log-probability, :meth:`log_prob` to re-score one, :meth:`as_table`/:meth:`from_table`
    for the agent's text form, :meth:`state`/:meth:`from_state` for checkpoints.
    """

    def __init__(
        self,
        space: GraphSpace,
        *,
        edge_shift: float = 2.0,
        fuser_bonus: float = 0.5,
        max_tries: int = 2000,
    ) -> None:
        self.space = space
        self.edge_shift = edge_shift
        self.fuser_bonus = fuser_bonus
        self.max_tries = max_tries
        n, p = space.max_nodes, len(space.models)
        self.edge_logits = np.zeros(len(space.candidate_edges))
        self.role_logits = np.zeros((n, len(ROLES)))
        self.model_logits = np.zeros((n, p))

    # ---- probabilities ---------------------------------------------------------------------
    def edge_prob(self, src: str, dst: str) -> float:
        """Probability that the candidate edge src->dst is added (when it closes no cycle)."""
        return _sigmoid(
            float(self.edge_logits[self.space.edge_index[(src, dst)]]) - self.edge_shift
        )

    def raw_edge_prob(self, src: str, dst: str) -> float:
        """sigmoid(logit) of the candidate edge, without the sampler's shift.

        The official code reads this value, not the sampling probability, when it extracts
        a final graph (PAPER.md §5 step 4) and in the MaaoSwarm tables.
        """
        return _sigmoid(float(self.edge_logits[self.space.edge_index[(src, dst)]]))

    def role_probs(self, node_id: str) -> np.ndarray:
        """Softmax over (assistant, fuser) for a slot."""
        return _softmax(self.role_logits[self.space.slot_index[node_id]])

    def model_probs(self, node_id: str, affordable: Sequence[int]) -> np.ndarray:
        """Softmax of a slot's model logits restricted to the affordable pool indices."""
        return _softmax(self.model_logits[self.space.slot_index[node_id]][list(affordable)])

    # ---- sampling --------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, mix: Mix | None = None) -> Draw:
        """Draw one graph (PAPER.md §4 "Sampling one graph", steps 1-6).

        Args:
            rng: The caller's generator; the only source of randomness.
            mix: If given, the first ``sum(mix)`` slots of the shuffled order take exactly
                these models (Agent-REINFORCE's fixed mix) and models add no log-probability.

        Raises:
            InfeasibleGraphError: if 2,000 edge draws all leave ``final`` without a predecessor.
        """
        order = tuple(int(i) for i in rng.permutation(self.space.max_nodes))
        models, logp_models = self._sample_models(rng, order, mix)
        ids = [sid for sid in self.space.node_ids if sid in models]
        for _ in range(self.max_tries):
            edges, logp_edges = self._sample_edges(rng, ids)
            if any(dst == FINAL for _, dst in edges):
                break
        else:
            raise InfeasibleGraphError("2000 edge draws left 'final' without a predecessor")
        wired = CollabGraph.build([Node(i, models[i]) for i in ids], edges, self.space.final_model)
        roles, logp_roles, fallback = self._sample_roles(rng, wired)
        full = CollabGraph.build(
            [Node(i, models[i], roles.get(i, Role.ASSISTANT)) for i in ids],
            edges,
            self.space.final_model,
        )
        logp = logp_models + logp_edges + logp_roles
        return Draw(prune(full), full, order, mix, logp, fallback)

    def _sample_models(
        self, rng: np.random.Generator, order: tuple[int, ...], mix: Mix | None
    ) -> tuple[dict[str, str], float]:
        """Step 2: models in shuffled order, each from those that still fit the budget."""
        ids = self.space.node_ids
        if mix is not None:
            names = self.space.mix_names(mix)
            if len(names) > len(ids):
                raise InfeasibleGraphError(f"mix {mix} has more nodes than the space's {len(ids)}")
            return {ids[slot]: name for slot, name in zip(order, names, strict=False)}, 0.0

        def draw(slot: int, affordable: tuple[int, ...]) -> int:
            probs = self.model_probs(ids[slot], affordable)
            return affordable[int(rng.choice(len(affordable), p=probs))]

        picks = self.space.pick_models(order, draw)
        return self._named(picks), self._models_log_prob(picks)

    def _named(self, picks: Sequence[ModelPick]) -> dict[str, str]:
        """Slot id -> model name of a budget walk."""
        return {p.node_id: self.space.models[p.model].name for p in picks}

    def _models_log_prob(self, picks: Sequence[ModelPick]) -> float:
        """Sum of log p(model pick) over a budget walk, in its order."""
        logp = 0.0
        for p in picks:
            logp += math.log(self.model_probs(p.node_id, p.affordable)[p.affordable.index(p.model)])
        return logp

    def _sample_edges(
        self, rng: np.random.Generator, ids: Sequence[str]
    ) -> tuple[list[Edge], float]:
        """Step 3: visit candidate edges in fixed order; cycle-closing ones are skipped."""
        walk = EdgeWalk(self.space, ids)
        decisions = walk.run(lambda src, dst: bool(rng.random() < self.edge_prob(src, dst)))
        return walk.edges, self._edges_log_prob(decisions, 0.0)

    def edge_decisions(self, full: CollabGraph) -> list[tuple[Edge, bool]]:
        """The edge decisions step 3 makes to produce ``full``: each visited edge, taken or not."""
        taken = set(full.edges)
        return EdgeWalk(self.space, full.node_ids).run(lambda src, dst: (src, dst) in taken)

    def _edges_log_prob(self, decisions: Sequence[tuple[Edge, bool]], logp: float) -> float:
        """``logp`` plus log p(edge decision) over ``decisions``, in their order."""
        for (src, dst), taken in decisions:
            p = self.edge_prob(src, dst)
            logp += math.log(p) if taken else math.log1p(-p)
        return logp

    def _role_step(self, node_id: str, pred_roles: Sequence[Role]) -> np.ndarray:
        """P(assistant), P(fuser) for a node given its predecessors' roles (step 4)."""
        if Role.FUSER in pred_roles:
            return np.array([1.0, 0.0])
        probs = self.role_probs(node_id)
        if pred_roles:
            p_fuser = min(1.0, float(probs[1]) + self.fuser_bonus)
            return np.array([1.0 - p_fuser, p_fuser])
        return probs

    def sample_roles(
        self, rng: np.random.Generator, wired: CollabGraph
    ) -> tuple[dict[str, Role], float, bool]:
        """Draw roles for a wired graph (§4 steps 4-5), as :meth:`sample` does.

        Returns:
            Roles of the nodes that reach ``final``, their log-probability, and True when
            2,000 draws broke the role rules and every node fell back to assistant.
        """
        return self._sample_roles(rng, wired)

    def _sample_roles(
        self, rng: np.random.Generator, wired: CollabGraph
    ) -> tuple[dict[str, Role], float, bool]:
        """Steps 4-5: roles in topological order over nodes that reach ``final``; retry."""
        live = wired.reaches_final()
        for _ in range(self.max_tries):
            roles: dict[str, Role] = {}
            logp = 0.0
            for layer in wired.layers()[:-1]:
                for i in layer:
                    if i not in live:
                        continue
                    probs = self._role_step(i, [roles[p] for p in wired.preds(i) if p in live])
                    k = int(rng.choice(2, p=probs))
                    roles[i] = ROLES[k]
                    logp += math.log(probs[k])
            if wired.role_fault(roles) is None:
                return roles, logp, False
        roles = dict.fromkeys(live, Role.ASSISTANT)
        return roles, self._roles_log_prob(wired, roles), True

    # ---- scoring ---------------------------------------------------------------------------
    def log_prob(self, full: CollabGraph, order: Sequence[int], mix: Mix | None = None) -> float:
        """Re-score a realisation: equals ``Draw.log_prob`` for ``(draw.full, draw.order)``.

        Returns ``-inf`` for realisations the sampler cannot produce.
        """
        logp = 0.0
        if mix is None:
            try:
                picks = self.space.replay_models(order, {n.id: n.model for n in full.nodes})
            except InfeasibleGraphError:
                return -math.inf
            logp = self._models_log_prob(picks)
        logp = self._edges_log_prob(self.edge_decisions(full), logp)
        live = full.reaches_final()
        roles = {n.id: n.role for n in full.nodes if n.id in live}
        return logp + self._roles_log_prob(full, roles)

    def _roles_log_prob(self, wired: CollabGraph, roles: dict[str, Role]) -> float:
        logp = 0.0
        for layer in wired.layers()[:-1]:
            for i in layer:
                if i not in roles:
                    continue
                probs = self._role_step(i, [roles[p] for p in wired.preds(i) if p in roles])
                p = float(probs[ROLES.index(roles[i])])
                logp += math.log(p) if p > 0 else -math.inf
        return logp

    def mode(self) -> CollabGraph:
        """The most likely graph, built greedily.

        Slots in id order take their best affordable model, edges with p > 0.5 are added unless
        they close a cycle, roles take their likelier value. Nodes without a path to ``final``
        are wired into it so the result is executable.
        """
        ids = self.space.node_ids
        picks = self.space.pick_models(
            range(len(ids)), lambda slot, aff: aff[int(np.argmax(self.model_probs(ids[slot], aff)))]
        )
        models = self._named(picks)
        kept = [sid for sid in ids if sid in models]
        walk = EdgeWalk(self.space, kept)
        walk.run(lambda src, dst: self.edge_prob(src, dst) > 0.5)
        edges = walk.edges + [(i, FINAL) for i in kept if not walk.adj[i]]
        wired = CollabGraph.build([Node(i, models[i]) for i in kept], edges, self.space.final_model)
        roles: dict[str, Role] = {}
        for layer in wired.layers()[:-1]:
            for i in layer:
                probs = self._role_step(i, [roles[p] for p in wired.preds(i)])
                roles[i] = ROLES[int(np.argmax(probs))]
        if wired.role_fault(roles) is not None:
            roles = dict.fromkeys(kept, Role.ASSISTANT)
        nodes = [Node(i, models[i], roles[i]) for i in kept]
        return prune(CollabGraph.build(nodes, edges, self.space.final_model))

    # ---- text table ------------------------------------------------------------------------
    def as_table(self, node_ids: Sequence[str] | None = None) -> str:
        """The text an LLM agent reads and rewrites: edge, role and model probabilities.

        Args:
            node_ids: Restrict the table to these slots (the agent sees only kept nodes);
                edge lines keep their index in the full candidate list.
        """
        slots = self._slots(node_ids)
        everyone = range(len(self.space.models))
        lines = ["Edge-probabilities:", *self.edge_lines(slots), "Role-probabilities:"]
        lines += [f"{s}: fuser={self.role_probs(s)[1]:.3f}" for s in slots]
        lines.append("Model-probabilities:")
        for s in slots:
            probs = self.model_probs(s, everyone)
            cells = ", ".join(
                f"{m}={p:.3f}" for m, p in zip(self.space.model_names, probs, strict=True)
            )
            lines.append(f"{s}: {cells}")
        return "\n".join(lines)

    def edge_lines(self, node_ids: Sequence[str] | None = None) -> list[str]:
        """The table's edge lines among ``node_ids`` (all slots by default) and ``final``."""
        index = self.space.edge_index
        return [
            f"{index[(src, dst)]}: src={src}, dst={dst}, prob={self.edge_prob(src, dst):.3f}"
            for src, dst in self.space.edges_among(self._slots(node_ids))
        ]

    def _slots(self, node_ids: Sequence[str] | None) -> list[str]:
        """``node_ids`` in canonical slot order (every slot when None)."""
        keep = set(self.space.node_ids if node_ids is None else node_ids)
        return [s for s in self.space.node_ids if s in keep]

    def from_table(self, text: str) -> GraphDistribution:
        """A copy with every probability named in ``text`` (the :meth:`as_table` format) set.

        Lines not mentioned keep their values. Unknown ids or malformed numbers raise.

        Raises:
            ProposalParseError: naming the first bad line.
        """
        out = self.copy()
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.endswith(":"):
                continue
            try:
                out._apply_table_line(line)
            except (KeyError, ValueError, IndexError) as exc:
                raise ProposalParseError(f"bad table line {line!r}: {exc}") from exc
        return out

    def _apply_table_line(self, line: str) -> None:
        edge = re.fullmatch(r"(\d+):\s*src=(\w+),\s*dst=(\w+),\s*prob=([0-9.eE+-]+)", line)
        if edge:
            k, src, dst, p = int(edge[1]), edge[2], edge[3], float(edge[4])
            if self.space.candidate_edges[k] != (src, dst):
                raise KeyError(f"edge {k} is {self.space.candidate_edges[k]}, not {(src, dst)}")
            self.edge_logits[k] = _logit(p) + self.edge_shift
            return
        role = re.fullmatch(r"(\w+):\s*fuser=([0-9.eE+-]+)", line)
        if role:
            self.role_logits[self.space.slot_index[role[1]]] = [0.0, _logit(float(role[2]))]
            return
        slot, _, rest = line.partition(":")
        cells = dict(c.strip().split("=") for c in rest.split(","))
        row = [math.log(max(float(cells[m]), _P_MIN)) for m in self.space.model_names]
        self.model_logits[self.space.slot_index[slot.strip()]] = row

    # ---- state -----------------------------------------------------------------------------
    def copy(self) -> GraphDistribution:
        """An independent copy (parameters are copied, the space is shared)."""
        return self.from_state(self.space, self.state())

    def state(self) -> dict[str, Any]:
        """JSON-able parameters and options, for checkpoints."""
        return {
            "edge_logits": self.edge_logits.tolist(),
            "role_logits": self.role_logits.tolist(),
            "model_logits": self.model_logits.tolist(),
            "edge_shift": self.edge_shift,
            "fuser_bonus": self.fuser_bonus,
            "max_tries": self.max_tries,
        }

    @classmethod
    def from_state(cls, space: GraphSpace, state: dict[str, Any]) -> GraphDistribution:
        """Inverse of :meth:`state` over the same space."""
        dist = cls(
            space,
            edge_shift=float(state["edge_shift"]),
            fuser_bonus=float(state["fuser_bonus"]),
            max_tries=int(state["max_tries"]),
        )
        dist.edge_logits = np.array(state["edge_logits"], dtype=float)
        dist.role_logits = np.array(state["role_logits"], dtype=float)
        dist.model_logits = np.array(state["model_logits"], dtype=float)
        return dist


def _logit(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} is outside [0, 1]")
    q = min(max(p, _P_MIN), 1 - _P_MIN)
    return math.log(q / (1 - q))


def prune(graph: CollabGraph) -> CollabGraph:
    """Drop agent nodes with no path to ``final`` (they cannot change the answer)."""
    return graph.used()
