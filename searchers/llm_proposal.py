"""LLM-proposal search, OPRO-style: the agent sees the best graphs so far and writes the next.

A few random graphs seed the history; then each round the proposer reads the top graphs with
their search accuracy and replies with one ``Graph:`` block, which is parsed, checked against
the budget and repaired; bad replies are retried, then replaced by a random graph (recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from suite.core.distribution import GraphDistribution
from suite.core.errors import ConfigError, ProposalParseError
from suite.core.graph import CollabGraph
from suite.search import llm_search as ls
from suite.search.searcher import (
    RECOMMEND,
    AgentRequest,
    Observation,
    Proposal,
    SearchContext,
    Searcher,
    check_choice,
    feasible_sample,
    random_mix,
)


class LlmProposalSearcher(Searcher):
    """An LLM proposes whole graphs from a scored history (Yang et al.'s OPRO, on graphs).

    Args:
        warmup: Random graphs evaluated before the first proposal (the history's seed).
        top_k: Best graphs shown to the proposer, best first.
        max_attempts: Proposer attempts per round before a random graph is used.
        recommend: ``best`` (default) or ``last``.
    """

    name: ClassVar[str] = "llm_proposal"
    uses_agent: ClassVar[bool] = True

    def __init__(
        self, warmup: int = 3, top_k: int = 5, max_attempts: int = 3, recommend: str = "best"
    ) -> None:
        super().__init__()
        check_choice("recommend", recommend, RECOMMEND)
        if warmup < 1 or top_k < 1 or max_attempts < 1:
            raise ConfigError("searcher.warmup, top_k and max_attempts must be >= 1")
        self.warmup, self.top_k, self.max_attempts = warmup, top_k, max_attempts
        self.recommend_mode = recommend
        self.history: list[tuple[CollabGraph, float]] = []
        self.last: CollabGraph | None = None

    def setup(self, ctx: SearchContext) -> None:
        """Keep the context and build the prior for random graphs; the agent is required."""
        super().setup(ctx)
        self.prior = GraphDistribution(ctx.space)

    def _random(self) -> CollabGraph:
        """A prior graph with a uniformly drawn mix (warm-up and fallback)."""
        mix = random_mix(self.ctx.space, self.ctx.rng)
        return feasible_sample(self.prior, self.ctx.rng, mix)[1]

    def _propose(self, number: int) -> Proposal:
        if number < self.warmup or not self.history:
            graph, info = self._random(), {"phase": "warmup"}
        else:
            graph, info = self._ask_agent()
        return Proposal(graph, number, self.ctx.batch_size, info)

    def _ask_agent(self) -> tuple[CollabGraph, dict[str, Any]]:
        space, agent = self.ctx.space, self.agent
        top = sorted(self.history, key=lambda gs: -gs[1])[: self.top_k]
        shown = "\n\n".join(f"Accuracy {ls.percent(s)}:\n{ls.role_text(g)}" for g, s in top)
        costs = ", ".join(f"{m.name}={m.unit_cost}" for m in space.models)
        messages = ls.render(
            "propose",
            budget=space.budget_units,
            costs=costs,
            last_id=space.max_nodes - 1,
            history=shown,
        )
        errors: list[str] = []
        for _ in range(self.max_attempts):
            reply = agent.ask(AgentRequest("propose", messages))
            try:
                block, _ = ls.split_blocks(reply.text)
                parsed = ls.parse_graph(block, space, space.node_ids, None)
                if space.units(parsed) > space.budget_units:
                    raise ProposalParseError(
                        f"the graph spends {space.units(parsed)} units; the budget is "
                        f"{space.budget_units}"
                    )
                graph, deleted = space.repair(parsed, self.ctx.rng)
            except ProposalParseError as exc:
                errors.append(str(exc))
                continue
            return graph, {
                "phase": "propose",
                "agent_attempts": len(errors) + 1,
                "parse_errors": errors,
                "deleted_by_repair": list(deleted),
            }
        return self._random(), {
            "phase": "propose",
            "agent_attempts": len(errors),
            "parse_errors": errors,
            "fallback": "random graph after ProposalParseError",
        }

    def _observe(self, proposal: Proposal, observation: Observation) -> None:
        self.history.append((proposal.graph, observation.reward))
        self.last = proposal.graph

    def recommend(self) -> CollabGraph:
        """The best graph seen (first of equals), or the last with ``recommend=last``."""
        if self.recommend_mode == "last" and self.last is not None:
            return self.last
        if self.history:
            return max(self.history, key=lambda gs: gs[1])[0]
        return self.prior.mode()

    def _state(self) -> dict[str, Any]:
        return {
            "history": ls.jsonable_pairs(self.history),
            "last": None if self.last is None else self.last.to_dict(),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.history = ls.pairs_from_json(state["history"])
        self.last = None if state["last"] is None else CollabGraph.from_dict(state["last"])
