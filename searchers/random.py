"""Random search, the paper's ``RandomOptimizedSwarm`` baseline (PAPER.md §8).

Each proposal is a uniformly drawn least-leftover mix and a prior graph for it; the best
observed graph is returned (ties broken at random).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from suite.core.distribution import GraphDistribution
from suite.core.graph import CollabGraph
from suite.search.searcher import (
    RECOMMEND,
    BestSoFar,
    Observation,
    Proposal,
    SearchContext,
    Searcher,
    check_choice,
    feasible_sample,
    random_mix,
)


class RandomSearcher(Searcher):
    """Budget-filling random mixes with prior graphs; returns the best (or last) graph seen.

    Per proposal (PAPER.md §8, ``RandomOptimizedSwarm``): draw a feasible mix uniformly, sample
    a graph from the untrained distribution with that mix (edges about 0.12), wire nodes that
    cannot reach ``final`` into it, enforce the FLOPs cap, and propose it.

    Args:
        recommend: ``best`` (the paper's choice for this baseline) or ``last``.
    """

    name: ClassVar[str] = "random"

    def __init__(self, recommend: str = "best") -> None:
        super().__init__()
        self.recommend_mode = check_choice("recommend", recommend, RECOMMEND)
        self._seen = BestSoFar()

    def setup(self, ctx: SearchContext) -> None:
        """Build the prior distribution over the space."""
        super().setup(ctx)
        self._dist = GraphDistribution(ctx.space)

    def _propose(self, number: int) -> Proposal:
        mix = random_mix(self.ctx.space, self.ctx.rng)
        _, graph, deleted = feasible_sample(self._dist, self.ctx.rng, mix)
        info = {"mix": list(mix), "deleted_by_repair": list(deleted)}
        return Proposal(graph, number, self.ctx.batch_size, info)

    def _observe(self, proposal: Proposal, observation: Observation) -> None:
        self._seen.observe(proposal.graph, observation.reward, self.ctx.rng)

    def recommend(self) -> CollabGraph:
        """The best graph observed (ties at random), or the last one with ``recommend=last``."""
        chosen = self._seen.chosen(self.recommend_mode)
        return self._dist.mode() if chosen is None else chosen

    def _state(self) -> dict[str, Any]:
        return self._seen.state()

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._seen.load_state(state)
