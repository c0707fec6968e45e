"""The pilot's plan: which graphs a task-level pilot measures (PAPER.md §6, the suite rule).

Shared by the pilot study on a real or simulated backend (:mod:`suite.engine.pilot`) and the
id-level benchmark (:mod:`suite.search.bench`), so both measure the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from suite.core.distribution import GraphDistribution
from suite.core.graph import CollabGraph
from suite.core.space import GraphSpace
from suite.search.searcher import feasible_sample


def pilot_rows(space: GraphSpace, rng: np.random.Generator) -> list[tuple[str, Any, CollabGraph]]:
    """The pilot's graphs: each affordable single model, then one random graph per mix.

    Singles are the models one call of which fits the budget (the paper's data block also
    lists the 70B, which no mix at budget 12 can hold; the suite does not pay for it).

    A mix's graph is one draw of the numeric prior with that mix, repaired to the cap (edges
    about 0.12), as the official ``RandomOptimizedSwarm`` draws its graphs; the official
    code hard-codes its pilot table, so this is the suite's reading of "random graph".

    Returns:
        ``(kind, label, graph)`` rows: ``("single", model name, graph)`` then
        ``("mix", mix tuple, graph)``.
    """
    prior = GraphDistribution(space)
    out: list[tuple[str, Any, CollabGraph]] = []
    for k in space.affordable(space.budget_units):
        name = space.models[k].name
        out.append(("single", name, CollabGraph.single(name)))
    for mix in space.feasible_mixes():
        out.append(("mix", tuple(mix), feasible_sample(prior, rng, mix)[1]))
    return out
