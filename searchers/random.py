"""Random search, the paper's ``RandomOptimizedSwarm`` baseline (PAPER.md §8).

Each proposal is a uniformly drawn least-leftover mix and a prior graph for it; the best
observed graph is returned (ties broken at random).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from suite.core.distribution import GraphDistribution
from suite.core.edges import EdgeWalk, link_orphans
from suite.core.errors import ConfigError
from suite.core.graph import CollabGraph
from suite.search.searcher import (
    RECOMMEND,
    BestSoFar,
    Observation,
    Proposal,
    SearchContext,
    Searcher,
    check_choice,
    random_mix,
)


class RandomSearcher(Searcher):
    """Budget-filling random mixes with prior graphs; returns the best (or last) graph seen.

    Per proposal (PAPER.md §8, ``RandomOptimizedSwarm``): draw a feasible mix uniformly, sample
    a graph from the untrained distribution with that mix (edges about 0.12), link each node
    that cannot reach ``final`` to the most useful node as the official
    ``make_all_nodes_useful`` does (:func:`~suite.core.edges.link_orphans` over the unshifted
    p = sigmoid(0) = 0.5 of every candidate edge, so the first node in candidate order that
    reaches ``final``, not ``final`` itself), enforce the FLOPs cap, and propose it.

    The official code redraws the whole graph with the shrunken mix when the cap deletes
    nodes; the suite keeps the repaired graph (``deleted_by_repair`` lists the deletions).

    Args:
        recommend: ``best`` (the paper's choice for this baseline) or ``last``.
        link_threshold: Orphans are linked over edges with p >= this (the official 0.2).
    """

    name: ClassVar[str] = "random"

    def __init__(self, recommend: str = "best", link_threshold: float = 0.2) -> None:
        super().__init__()
        self.recommend_mode = check_choice("recommend", recommend, RECOMMEND)
        if not 0.0 <= link_threshold <= 1.0:  # its type was checked by the schema
            raise ConfigError(
                f"searcher.link_threshold must be a probability in [0, 1], got {link_threshold!r}"
            )
        self.link_threshold = float(link_threshold)
        self._seen = BestSoFar()

    def setup(self, ctx: SearchContext) -> None:
        """Build the prior distribution over the space."""
        super().setup(ctx)
        self._dist = GraphDistribution(ctx.space)

    def _propose(self, number: int) -> Proposal:
        space, rng = self.ctx.space, self.ctx.rng
        mix = random_mix(space, rng)
        draw = self._dist.sample(rng, mix=mix)
        walk = EdgeWalk.of(space, draw.full)
        linked = link_orphans(walk, self._dist.raw_edge_prob, self.link_threshold)
        wired = CollabGraph.build(draw.full.nodes, walk.edges, space.final_model)
        graph, deleted = space.repair(wired, rng)
        info = {
            "mix": list(mix),
            "linked": [list(e) for e in linked],
            "deleted_by_repair": list(deleted),
            "unused": list(graph.unused()),
        }
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
