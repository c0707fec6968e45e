"""The candidate-edge walk every sampler shares: edges visited in order, cycle-closers refused.

PAPER.md §1 adds an edge only when it closes no cycle; §4 step 3 visits the candidate edges
in their fixed order. Samplers, scorers, the gradient and the searchers all walk through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from suite.core.graph import FINAL, CollabGraph
from suite.core.space import Edge, GraphSpace


def reaches(adj: dict[str, set[str]], src: str, dst: str) -> bool:
    """True when ``dst`` can be reached from ``src`` over the adjacency sets ``adj``.

    Adding the edge ``a -> b`` closes a cycle exactly when ``reaches(adj, b, a)``.
    """
    stack, seen = [src], {src}
    while stack:
        for nxt in adj[stack.pop()]:
            if nxt == dst:
                return True
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


class EdgeWalk:
    """Edges being added among kept slots and ``final``, never closing a cycle.

    Build one per graph, then either :meth:`run` a decision over the open candidate edges
    (the samplers' step 3) or add edges in an order of your own with :meth:`try_add`.

    Attributes:
        adj: Successor sets of the kept slots and ``final``, as edges are added.
        edges: The added edges, in the order they were added.
    """

    def __init__(self, space: GraphSpace, kept: Iterable[str]) -> None:
        kept = list(kept)
        self.adj: dict[str, set[str]] = {i: set() for i in [*kept, FINAL]}
        self.edges: list[Edge] = []
        self._candidates = space.edges_among(kept)

    @classmethod
    def of(cls, space: GraphSpace, graph: CollabGraph) -> EdgeWalk:
        """A walk over the graph's nodes that already holds its edges."""
        walk = cls(space, graph.node_ids)
        for src, dst in graph.edges:
            walk.add(src, dst)
        return walk

    def candidates(self) -> tuple[Edge, ...]:
        """The candidate edges among the kept slots and ``final``, in candidate order."""
        return self._candidates

    def open_edges(self) -> Iterator[Edge]:
        """The candidate edges, in order, that close no cycle over the edges added so far.

        Lazy: an edge added while iterating closes the cycles of the edges that follow.
        """
        for src, dst in self._candidates:
            if not self.closes_cycle(src, dst):
                yield src, dst

    def run(self, take: Callable[[str, str], bool]) -> list[tuple[Edge, bool]]:
        """Visit the open edges in order and add those ``take(src, dst)`` accepts.

        Returns:
            Every visited edge with its decision, in visiting order (what a log-probability
            or its gradient sums over).
        """
        decisions: list[tuple[Edge, bool]] = []
        for src, dst in self.open_edges():
            taken = take(src, dst)
            if taken:
                self.add(src, dst)
            decisions.append(((src, dst), taken))
        return decisions

    def closes_cycle(self, src: str, dst: str) -> bool:
        """True when adding ``src -> dst`` would close a cycle."""
        return reaches(self.adj, dst, src)

    def reaches(self, src: str, dst: str) -> bool:
        """True when ``dst`` is ``src`` or reachable from it over the edges added so far."""
        return src == dst or reaches(self.adj, src, dst)

    def add(self, src: str, dst: str) -> None:
        """Add ``src -> dst`` (the caller has checked it closes no cycle)."""
        if dst not in self.adj[src]:
            self.adj[src].add(dst)
            self.edges.append((src, dst))

    def try_add(self, src: str, dst: str) -> bool:
        """Add ``src -> dst`` unless it closes a cycle; True when added."""
        if self.closes_cycle(src, dst):
            return False
        self.add(src, dst)
        return True


def link_orphans(
    walk: EdgeWalk,
    prob: Callable[[str, str], float],
    threshold: float = 0.2,
    passes: int = 3,
) -> list[Edge]:
    """Link nodes that cannot reach ``final`` to the most probable node that can (PAPER.md §5).

    The official ``make_all_nodes_useful`` / ``make_all_kept_nodes_useful``: in node order,
    each node with no path to ``final`` gets one edge to the node it most probably feeds
    among those that reach ``final`` (``final`` included), over candidate edges with
    ``prob >= threshold``; ties go to the earlier candidate, and a cycle-closing choice
    gives way to the next. Up to ``passes`` passes, until one links nothing. Nodes left
    without a path stay unused. Unlike the official code, which keeps its first "useful"
    set, reachability is recomputed, so a node that became useful through a linked
    successor gets no extra edge.

    Returns:
        The edges added, in order.
    """
    added: list[Edge] = []
    by_src: dict[str, list[tuple[str, float]]] = {}
    for src, dst in walk.candidates():
        p = prob(src, dst)
        if p >= threshold:
            by_src.setdefault(src, []).append((dst, p))
    nodes = [i for i in walk.adj if i != FINAL]
    for _ in range(passes):
        before = len(added)
        for node in nodes:
            if walk.reaches(node, FINAL):
                continue
            useful = [(d, p) for d, p in by_src.get(node, []) if walk.reaches(d, FINAL)]
            for dst, _p in sorted(useful, key=lambda dp: -dp[1]):
                if walk.try_add(node, dst):
                    added.append((node, dst))
                    break
        if len(added) == before:
            break
    return added
