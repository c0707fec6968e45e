"""Random search, the paper's ``RandomOptimizedSwarm`` baseline (PAPER.md §8).

Each proposal is a uniformly drawn least-leftover mix and a prior graph for it; the best
observed graph is returned (ties broken at random).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from suite.core.distribution import GraphDistribution
from suite.core.errors import ConfigError
from suite.core.graph import CollabGraph
from suite.search.searcher import Observation, Proposal, SearchContext, Searcher


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
        if recommend not in ("best", "last"):
            raise ConfigError(f"searcher.recommend must be 'best' or 'last', got '{recommend}'")
        self.recommend_mode = recommend
        self._best: tuple[float, CollabGraph] | None = None
        self._ties = 0
        self._last: CollabGraph | None = None

    def setup(self, ctx: SearchContext) -> None:
        """Build the prior distribution over the space."""
        super().setup(ctx)
        self._dist = GraphDistribution(ctx.space)
        self._mixes = ctx.space.feasible_mixes()

    def _propose(self, number: int) -> Proposal:
        rng = self.ctx.rng
        mix = self._mixes[int(rng.integers(len(self._mixes)))]
        draw = self._dist.sample(rng, mix=mix)
        graph, deleted = self.ctx.space.repair(draw.full, rng)
        info = {"mix": list(mix), "deleted_by_repair": list(deleted)}
        return Proposal(graph, number, self.ctx.batch_size, info)

    def _observe(self, proposal: Proposal, observation: Observation) -> None:
        self._last = proposal.graph
        if self._best is None or observation.reward > self._best[0]:
            self._best, self._ties = (observation.reward, proposal.graph), 1
        elif observation.reward == self._best[0]:
            self._ties += 1  # reservoir sampling keeps each tied graph with equal chance
            if self.ctx.rng.random() < 1.0 / self._ties:
                self._best = (observation.reward, proposal.graph)

    def recommend(self) -> CollabGraph:
        """The best graph observed (ties at random), or the last one with ``recommend=last``."""
        chosen = (
            self._last if self.recommend_mode == "last" else (self._best[1] if self._best else None)
        )
        if chosen is None:
            return self._dist.mode()
        return chosen

    def _state(self) -> dict[str, Any]:
        return {
            "rng": self.rng_state(self.ctx.rng),
            "best": None if self._best is None else [self._best[0], self._best[1].to_dict()],
            "ties": self._ties,
            "last": None if self._last is None else self._last.to_dict(),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.set_rng_state(self.ctx.rng, state["rng"])
        best = state["best"]
        self._best = None if best is None else (float(best[0]), CollabGraph.from_dict(best[1]))
        self._ties = int(state["ties"])
        last = state["last"]
        self._last = None if last is None else CollabGraph.from_dict(last)
