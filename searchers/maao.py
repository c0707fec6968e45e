"""The MaaoSwarm hybrid baseline (PAPER.md §8): REINFORCE steps alternating with LLM steps.

One REINFORCE step (sample, evaluate, Adam on the logits) then one LLM step (sample, evaluate,
the agent rewrites the edge and role probability tables), for 5 cycles; then the final graph
is extracted from the probabilities as REINFORCE's is (§5 step 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from suite.core.distribution import GraphDistribution
from suite.core.errors import ConfigError, ProposalParseError
from suite.core.extract import extract
from suite.core.gradient import Adam, reinforce_grad
from suite.core.graph import CollabGraph
from suite.search import table_agent
from suite.search.searcher import (
    RECOMMEND,
    BestSoFar,
    Observation,
    Proposal,
    SearchContext,
    Searcher,
    check_choice,
    policy_sample,
)

STEPS = ("reinforce", "llm")
"""The two step kinds of a cycle, in order."""


class MaaoSearcher(Searcher):
    """REINFORCE and LLM table rewrites in turn, as the official ``optimize_maao_swarm``.

    Each step evaluates ``batch`` graphs sampled from the distribution, one question each
    (PAPER.md §5 step 1). A *reinforce* step then takes one Adam step on the loss
    ``-mean(log p(G_i) * u_i)``; a fresh Adam each step, because the official code builds a
    new optimiser per call (``reset_adam``). An *llm* step then shows the agent its last
    sampled graph, the batch accuracy and the edge and role tables
    (:mod:`suite.search.table_agent`) and takes the rewritten tables as the new edge and role
    logits; a reply that does not parse after ``max_attempts`` keeps the tables and is
    recorded (the official code has no fallback). After ``cycles`` cycles ``ask`` returns
    None. ``info["step"]`` names each trial's step kind and ``info["iteration"]`` its step.

    Deliberate differences from the official code: the suite's N slots (the space's, as
    REINFORCE) instead of the node count of one random feasible mix; the tables list slots
    only (FinalDecision's fixed role row is left out); unmentioned rows keep their values.

    Args:
        cycles: REINFORCE + LLM pairs (the official ``num_iterations / 2`` = 5).
        lr: Adam learning rate (the official 0.1).
        batch: Questions (= sampled graphs) per step; None means the run's ``batch_size``.
        reset_adam: A fresh Adam for every REINFORCE step (the official code), or one for all.
        max_attempts: Agent attempts per LLM step before the tables are kept.
        recommend: ``extracted`` (the official evaluation), ``best`` or ``last`` observed.
        edge_threshold, max_out_edges, link_threshold, mask_threshold: Extraction options,
            as REINFORCE's (:func:`suite.core.extract.extract`).
    """

    name: ClassVar[str] = "maao"
    uses_agent: ClassVar[bool] = True

    def __init__(
        self,
        cycles: int = 5,
        lr: float = 0.1,
        batch: int | None = None,
        reset_adam: bool = True,
        max_attempts: int = 3,
        recommend: str = "extracted",
        edge_threshold: float = 0.55,
        max_out_edges: int = 2,
        link_threshold: float = 0.2,
        mask_threshold: float = 0.0,
    ) -> None:
        super().__init__()
        # Types were checked by the schema (suite/config/schema.py MaaoSchema); ranges here.
        _check_counts(cycles=cycles, max_attempts=max_attempts, max_out_edges=max_out_edges)
        if batch is not None:
            _check_counts(batch=batch)
        if lr <= 0:
            raise ConfigError(f"searcher.lr must be a positive number, got {lr!r}")
        check_choice("recommend", recommend, ("extracted", *RECOMMEND))
        thresholds = (edge_threshold, link_threshold, mask_threshold)
        for option, prob in zip(("edge", "link", "mask"), thresholds, strict=True):
            if not 0.0 <= prob <= 1.0:
                raise ConfigError(
                    f"searcher.{option}_threshold must be a probability in [0, 1], got {prob!r}"
                )
        self.cycles, self.lr, self.batch_option = cycles, float(lr), batch
        self.reset_adam, self.max_attempts = bool(reset_adam), max_attempts
        self.recommend_mode = recommend
        self.extraction = (
            float(edge_threshold),
            max_out_edges,
            float(link_threshold),
            float(mask_threshold),
        )

    def setup(self, ctx: SearchContext) -> None:
        """Zero logits (PAPER.md §4), a fresh Adam, and a fixed seed for extraction."""
        super().setup(ctx)
        self._dist = GraphDistribution(ctx.space)
        self._adam = Adam(self._dist, self.lr)
        self._batch = self.batch_option or ctx.batch_size
        self._drawn: dict[int, dict[str, np.ndarray]] = {}  # reinforce steps: grad log p
        self._step_obs: list[tuple[int, float, CollabGraph]] = []  # this step's observations
        self._notes: dict[str, Any] | None = None  # the last update, shown with the next trial
        self._extract_seed = int(ctx.rng.integers(2**63 - 1))
        self._seen = BestSoFar()

    # ---- ask/tell ----------------------------------------------------------------------------
    def _propose(self, number: int) -> Proposal | None:
        step = number // self._batch
        if step >= 2 * self.cycles:
            return None
        kind = STEPS[step % 2]
        graph, grad, info = policy_sample(self._dist, self.ctx.rng)
        if kind == "reinforce":
            self._drawn[number] = grad
        info.update(iteration=step, cycle=step // 2, step=kind)
        if self._notes is not None:
            info["update"], self._notes = self._notes, None
        return Proposal(graph, number, 1, info)

    def _observe(self, proposal: Proposal, observation: Observation) -> None:
        self._seen.observe(proposal.graph, observation.reward, self.ctx.rng)
        self._step_obs.append((proposal.number, observation.reward, proposal.graph))
        if len(self._step_obs) < self._batch:
            return
        rewards = [u for _, u, _ in self._step_obs]
        if proposal.info["step"] == "reinforce":
            grads = [self._drawn.pop(n) for n, _, _ in self._step_obs]
            if self.reset_adam:
                self._adam = Adam(self._dist, self.lr)
            self._adam.step(self._dist, reinforce_grad(grads, rewards))
            self._notes = {"step": "reinforce", "utility": float(np.mean(rewards))}
        else:
            self._notes = self._llm_update(self._step_obs[-1][2], float(np.mean(rewards)))
        self._step_obs = []

    def _llm_update(self, graph: CollabGraph, accuracy: float) -> dict[str, Any]:
        """The agent rewrites the edge and role tables (the official ``maao_forward``)."""
        errors: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            reply = self.agent.ask(table_agent.request(self._dist, graph, accuracy))
            try:
                rewritten = table_agent.apply_reply(self._dist, reply.text)
            except ProposalParseError as exc:
                errors.append(str(exc))
                continue
            self._dist.edge_logits = rewritten.edge_logits
            self._dist.role_logits = rewritten.role_logits
            return {
                "step": "llm",
                "utility": accuracy,
                "agent_attempts": attempt,
                "parse_errors": errors,
            }
        return {
            "step": "llm",
            "utility": accuracy,
            "agent_attempts": self.max_attempts,
            "parse_errors": errors,
            "fallback": "tables kept after ProposalParseError",
        }

    # ---- the result --------------------------------------------------------------------------
    @property
    def distribution(self) -> GraphDistribution:
        """The learned distribution (read it; the searcher owns its updates)."""
        return self._dist

    def recommend(self) -> CollabGraph:
        """The graph extracted from the final tables, or the best / last observed graph."""
        chosen = self._seen.chosen(self.recommend_mode)
        if chosen is not None:
            return chosen
        rng = np.random.default_rng(self._extract_seed)
        return extract(self._dist, rng, *self.extraction)

    # ---- state -------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "dist": self._dist.state(),
            "adam": self._adam.state(),
            "drawn": {
                str(k): {p: a.tolist() for p, a in g.items()} for k, g in self._drawn.items()
            },
            "step_obs": [[n, u, g.to_dict()] for n, u, g in self._step_obs],
            "notes": self._notes,
            "extract_seed": self._extract_seed,
            **self._seen.state(),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._dist = GraphDistribution.from_state(self.ctx.space, dict(state["dist"]))
        self._adam.load_state(state["adam"])
        self._drawn = {
            int(k): {p: np.array(a, dtype=float) for p, a in g.items()}
            for k, g in state["drawn"].items()
        }
        self._step_obs = [
            (int(n), float(u), CollabGraph.from_dict(g)) for n, u, g in state["step_obs"]
        ]
        self._notes = None if state["notes"] is None else dict(state["notes"])
        self._extract_seed = int(state["extract_seed"])
        self._seen.load_state(state)


def _check_counts(**counts: int) -> None:
    """Raise a one-line ConfigError unless every option is at least 1."""
    for key, value in counts.items():
        if value < 1:
            raise ConfigError(f"searcher.{key} must be an integer >= 1, got {value!r}")
