"""The search loop: ask, evaluate on a batch of search questions, tell, record; then test.

It owns the order of calls between searcher, executor, task and results; nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from suite.backends.base import Doc
from suite.core.graph import CollabGraph
from suite.core.meter import Meter
from suite.core.space import GraphSpace
from suite.core.stats import wilson_ci
from suite.engine.executor import Executor
from suite.engine.results import ResultsStore
from suite.search.searcher import Observation, Searcher

Scorer = Callable[[Sequence[tuple[Doc, str]]], list[float]]


@dataclass(frozen=True)
class Evaluation:
    """A graph evaluated on a list of questions."""

    scores: tuple[float, ...]
    doc_ids: tuple[str, ...]
    cost_flops: float
    latency_s: float
    prompt_tokens: int
    output_tokens: int

    @property
    def accuracy(self) -> float:
        """Mean score."""
        return float(np.mean(self.scores)) if self.scores else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        """95% Wilson interval of the accuracy."""
        return wilson_ci(sum(self.scores), len(self.scores))


def evaluate(
    executor: Executor, score: Scorer, graph: CollabGraph, docs: Sequence[Doc], purpose: str
) -> Evaluation:
    """Run one graph on every question and score the final answers."""
    runs = executor.run([(graph, d) for d in docs], purpose)
    scores = score([(d, r.final_text) for d, r in zip(docs, runs, strict=True)])
    return Evaluation(
        scores=tuple(scores),
        doc_ids=tuple(d.doc_id for d in docs),
        cost_flops=sum(r.cost_flops for r in runs),
        latency_s=float(np.mean([r.latency_s for r in runs])) if runs else 0.0,
        prompt_tokens=sum(r.prompt_tokens for r in runs),
        output_tokens=sum(r.output_tokens for r in runs),
    )


class DocStream:
    """Search questions in batches, cycling seeded permutations of the search split."""

    def __init__(self, docs: Sequence[Doc], rng: np.random.Generator) -> None:
        self.docs, self.rng = list(docs), rng
        self._order: list[int] = []

    def take(self, n: int) -> list[Doc]:
        """The next ``n`` questions (a new permutation starts when one runs out)."""
        out = []
        for _ in range(n):
            if not self._order:
                self._order = [int(i) for i in self.rng.permutation(len(self.docs))]
            out.append(self.docs[self._order.pop(0)])
        return out

    def state(self) -> dict[str, Any]:
        """Generator state and the rest of the current permutation, for checkpoints."""
        return {"rng": dict(self.rng.bit_generator.state), "order": list(self._order)}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`."""
        self.rng.bit_generator.state = dict(state["rng"])
        self._order = [int(i) for i in state["order"]]


def search(
    searcher: Searcher,
    space: GraphSpace,
    executor: Executor,
    score: Scorer,
    stream: DocStream,
    meter: Meter,
    store: ResultsStore,
    on_step: Callable[[int, float], None] = lambda n_docs, reward: None,
    checkpoint: Callable[[], None] = lambda: None,
    best: float = -1.0,
) -> dict[str, Any]:
    """Run ask/evaluate/tell until the searcher stops or the evaluation budget is spent.

    The budget is question evaluations (iterations x batch size): a searcher that evaluates
    one graph per question (REINFORCE) makes more proposals than one that uses batches.
    Proposals that ask for more questions than are left get the rest.

    After each trial is on disk, ``checkpoint`` saves everything needed to resume; ``best``
    carries the best reward of trials made before a resume.

    Returns:
        Totals: graph evaluations, question evaluations, best reward.
    """
    while meter.search_evals_left() > 0:
        proposal = searcher.ask()
        if proposal is None:
            break
        space.check(proposal.graph, allow_single=True, cap=not proposal.uncapped)
        n_docs = min(proposal.n_docs, meter.search_evals_left())
        meter.reserve_search(n_docs)
        result = evaluate(executor, score, proposal.graph, stream.take(n_docs), "search")
        observation = Observation(
            result.accuracy, result.scores, result.cost_flops, result.latency_s
        )
        searcher.tell(proposal, observation)
        best = max(best, result.accuracy)
        store.append_trial(
            {
                "iteration": proposal.info.get("iteration", proposal.number),
                "proposal": proposal.number,
                "graph": proposal.graph.to_dict(),
                "graph_digest": proposal.graph.digest,
                "doc_ids": list(result.doc_ids),
                "scores": list(result.scores),
                "reward": result.accuracy,
                "cost_flops": result.cost_flops,
                "graph_flops_estimate": space.flops(proposal.graph),
                "latency_s": result.latency_s,
                "prompt_tokens": result.prompt_tokens,
                "output_tokens": result.output_tokens,
                "info": dict(proposal.info),
            }
        )
        checkpoint()
        on_step(n_docs, result.accuracy)
    tally = meter.tally("search")
    return {
        "graph_evals": tally.graph_evals,
        "question_evals": tally.question_evals,
        "best_search_reward": best if tally.graph_evals else None,
    }
