"""Searchers against the id-level simulated world: many seeds in seconds, exact test accuracy.

No lm-eval, no text: rewards are the world's answers on fresh simulated search questions and
test accuracy is a graph's expected accuracy over a held-out simulated population. Results
are ``sim`` numbers. Used by ``benchmarks/search_efficiency.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import yaml

from suite.config import CONF_DIR, registry
from suite.core.graph import CollabGraph
from suite.core.space import GraphSpace
from suite.search.agents import HeuristicAgent
from suite.search.pilot_plan import pilot_rows
from suite.search.searcher import Observation, SearchContext
from suite.sim import fit as simfit
from suite.sim.world import GOLD, SimWorld, expected_accuracy, population, run_graph

TEST_QUESTIONS = 4000
PILOT_QUESTIONS = 100  # per row, as the pilot study (suite.engine.pilot)
PILOT_SEED = 0
PRETEST_QUESTION_EVALS = 10  # budget/*.yaml's pretest_question_evals


@dataclass(frozen=True)
class SimRun:
    """One searcher, task and seed on the simulator."""

    searcher: str
    task: str
    seed: int
    test_accuracy: float
    graph_digest: str
    graph_evals: int
    anytime: tuple[tuple[int, float], ...]  # (question evals spent, best true accuracy so far)
    loop_iterations: int | None = None  # agent-loop iterations run (agent_reinforce, textgrad)


def searcher_options(name: str) -> dict[str, Any]:
    """The options of ``searcher/<name>.yaml`` (without ``name`` and Hydra's ``defaults``)."""
    data: dict[str, Any] = yaml.safe_load((CONF_DIR / "searcher" / f"{name}.yaml").read_text())
    data.pop("name", None)
    data.pop("defaults", None)  # the schema line: keys and types, no options
    return data


@cache
def _accuracy(task: str, digest: str, graph_json: str, n: int) -> float:
    return expected_accuracy(simfit.world("llama3", task), CollabGraph.from_json(graph_json), n)


def true_accuracy(task: str, graph: CollabGraph, n: int = TEST_QUESTIONS) -> float:
    """Expected accuracy of a graph over the held-out simulated population (memoised)."""
    return _accuracy(task, graph.digest, graph.to_json(), n)


def pilot(task: str, space: GraphSpace, n_questions: int = PILOT_QUESTIONS) -> dict[str, Any]:
    """The pilot's rows measured on the id-level world (the same rows as a run's pilot).

    Like the pilot study, it is task-level: one seed, one set of search questions, the same for
    every searcher and seed of the benchmark.
    """
    world = simfit.world("llama3", task)
    keys = population(n_questions, tag=f"pilot-{task}")
    singles: dict[str, float] = {}
    mixes: list[list[Any]] = []
    for kind, label, graph in pilot_rows(space, np.random.default_rng(PILOT_SEED)):
        accuracy = float(np.mean(run_graph(world, graph, keys) == GOLD))
        if kind == "single":
            singles[str(label)] = accuracy
        else:
            mixes.append([list(label), accuracy])
    return {"singles": singles, "mix_accuracy": mixes}


def run(
    name: str,
    task: str,
    space: GraphSpace,
    seed: int,
    n_iterations: int = 10,
    batch_size: int = 3,
    options: Mapping[str, Any] | None = None,
    pretest_question_evals: int = PRETEST_QUESTION_EVALS,
) -> SimRun:
    """Search with one searcher under the suite's budget and score what it recommends.

    The search budget is ``n_iterations x batch_size + pretest_question_evals`` question
    evaluations for every searcher, as in a run (``budget.pretest_question_evals``); a searcher
    that needs the pilot gets one measured here, outside that budget.
    """
    world: SimWorld = simfit.world("llama3", task)
    searcher = registry.resolve("searcher", name)(**(options or searcher_options(name)))
    budget = n_iterations * batch_size + pretest_question_evals
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    agent = HeuristicAgent(space)
    study = pilot(task, space) if searcher.needs_pilot else None
    context = SearchContext(space, rng, n_iterations, batch_size, budget, agent=agent, pilot=study)
    searcher.setup(context)
    questions = population(budget, tag=f"search-{task}-{seed}")
    spent, evals, best = 0, 0, 0.0
    anytime = []
    iterations: set[int] = set()
    while spent < budget:
        proposal = searcher.ask()
        if proposal is None:
            break
        n = min(proposal.n_docs, budget - spent)
        keys = questions[spent : spent + n]
        right = run_graph(world, proposal.graph, keys) == GOLD
        scores = tuple(float(x) for x in right)
        flops = space.flops(proposal.graph) if proposal.graph.nodes else 0.0
        searcher.tell(proposal, Observation(float(np.mean(scores)), scores, flops * n, 0.0))
        spent, evals = spent + n, evals + 1
        if proposal.info.get("phase") == "loop" and "iteration" in proposal.info:
            iterations.add(int(proposal.info["iteration"]))
        if proposal.graph.nodes:  # pilot single-model graphs are not in the search space
            best = max(best, true_accuracy(task, proposal.graph, 2000))
        anytime.append((spent, best))
    graph = searcher.recommend()
    loops = len(iterations) if iterations else None
    accuracy = true_accuracy(task, graph)
    return SimRun(name, task, seed, accuracy, graph.digest, evals, tuple(anytime), loops)
