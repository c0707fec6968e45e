"""SearcherContract: the conformance tests every searcher's test class inherits.

Subclass it as ``class TestMySearcher(SearcherContract)`` and implement :meth:`make_searcher`.
Rewards come from the sim world's expected accuracy on a small fixed population, so the
contract runs without data, lm-eval or a backend.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import numpy as np
import yaml

from suite.config import CONF_DIR, build_space
from suite.core.cost import TokenProfile
from suite.core.errors import SuiteError
from suite.core.graph import CollabGraph
from suite.core.space import GraphSpace
from suite.search.agents import HeuristicAgent
from suite.search.searcher import Agent, Observation, Proposal, SearchContext, Searcher
from suite.sim.world import GOLD, SimWorld, load_profiles, population, run_graph


@cache
def contract_space(task: str = "mmlu", units: int = 12) -> GraphSpace:
    """The llama3 pool's space for a task at a budget (the paper's setting by default)."""
    pool = yaml.safe_load((CONF_DIR / "pool" / "llama3.yaml").read_text())
    profile = load_profiles("llama3")[task]
    tokens = TokenProfile(profile.input_tokens, profile.output_tokens)
    return build_space(pool, task, tokens, units)


@cache
def _world(task: str) -> SimWorld:
    return SimWorld(task, load_profiles("llama3")[task], 0)


def sim_observation(graph: CollabGraph, proposal: Proposal, space: GraphSpace) -> Observation:
    """A deterministic observation: the graph's sim answers on ``n_docs`` fixed questions."""
    keys = population(proposal.n_docs, tag=f"contract-{proposal.number}")
    right = run_graph(_world(space.task), graph, keys) == GOLD
    scores = tuple(float(x) for x in right)
    return Observation(float(np.mean(scores)), scores, space.flops(graph) * len(scores), 1.0)


class SearcherContract:
    """Behaviour every searcher must show; subclasses implement :meth:`make_searcher`."""

    n_iterations = 6
    batch_size = 3

    def make_searcher(self) -> Searcher:
        """A fresh, un-set-up searcher with the options under test."""
        raise NotImplementedError

    def space(self) -> GraphSpace:
        """The space the contract searches (override to test another)."""
        return contract_space()

    def agent(self) -> Agent | None:
        """The agent LLM searchers get (the heuristic one; override to script replies)."""
        return HeuristicAgent(self.space())

    def context(self, seed: int) -> SearchContext:
        """A context with a generator made from ``seed``."""
        budget = self.n_iterations * self.batch_size
        rng = np.random.default_rng(seed)
        return SearchContext(
            self.space(), rng, self.n_iterations, self.batch_size, budget, agent=self.agent()
        )

    def drive(self, searcher: Searcher, steps: int) -> list[str]:
        """Ask/tell ``steps`` times (or until the searcher stops); returns proposal digests."""
        digests = []
        for _ in range(steps):
            proposal = searcher.ask()
            if proposal is None:
                break
            digests.append(proposal.graph.digest)
            searcher.tell(proposal, sim_observation(proposal.graph, proposal, self.space()))
        return digests

    def started(self, seed: int = 0) -> Searcher:
        """A searcher set up with the contract context for ``seed``."""
        searcher = self.make_searcher()
        searcher.setup(self.context(seed))
        return searcher

    # ---- the contract ------------------------------------------------------------------------
    def test_every_proposal_is_feasible_and_sized(self) -> None:
        """Every proposal passes the space's check and asks for at least one question."""
        searcher = self.started()
        for _ in range(self.n_iterations):
            proposal = searcher.ask()
            assert proposal is not None
            # pilots may run one model; pre-test graphs may exceed the FLOPs cap (PAPER.md §6)
            self.space().check(proposal.graph, allow_single=True, cap=not proposal.uncapped)
            assert proposal.n_docs >= 1
            json.dumps(dict(proposal.info))
            searcher.tell(proposal, sim_observation(proposal.graph, proposal, self.space()))

    def test_tell_needs_a_matching_ask(self) -> None:
        """Telling a proposal twice raises SuiteError."""
        searcher = self.started()
        proposal = searcher.ask()
        assert proposal is not None
        obs = sim_observation(proposal.graph, proposal, self.space())
        searcher.tell(proposal, obs)
        try:
            searcher.tell(proposal, obs)
        except SuiteError:
            return
        raise AssertionError("telling the same proposal twice must raise SuiteError")

    def test_same_seed_same_proposals(self) -> None:
        """The same seed and observations give the same proposals."""
        a = self.drive(self.started(seed=7), self.n_iterations)
        b = self.drive(self.started(seed=7), self.n_iterations)
        assert a == b

    def test_other_seed_other_proposals(self) -> None:
        """Another seed gives other proposals."""
        a = self.drive(self.started(seed=1), self.n_iterations)
        b = self.drive(self.started(seed=2), self.n_iterations)
        assert a != b

    def test_budget_and_cap_respected(self) -> None:
        """Proposals spend at most the unit budget and the FLOPs cap."""
        space = self.space()
        searcher = self.started()
        for count in range(self.n_iterations):
            proposal = searcher.ask()
            assert proposal is not None, f"stopped after {count} proposals"
            assert space.units(proposal.graph) <= space.budget_units
            assert space.flops(proposal.graph) <= space.cap_flops
            searcher.tell(proposal, sim_observation(proposal.graph, proposal, space))

    def test_state_round_trips(self) -> None:
        """state() survives JSON and load_state() continues identically."""
        half = self.n_iterations // 2
        original = self.started(seed=3)
        self.drive(original, half)
        state: Any = json.loads(json.dumps(original.state()))
        restored = self.started(seed=99)  # a different generator: the state must carry it
        restored.load_state(state)
        rest = self.n_iterations - half
        assert self.drive(restored, rest) == self.drive(original, rest)
        assert restored.recommend() == original.recommend()

    def test_recommend_is_feasible(self) -> None:
        """The recommended graph is feasible."""
        searcher = self.started()
        self.drive(searcher, self.n_iterations)
        self.space().check(searcher.recommend())
