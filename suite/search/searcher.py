"""The Searcher interface (ask/tell, as in Optuna), the values that cross it, and its helpers.

Searchers propose graphs and learn from observations; they never execute anything. The helpers
at the end hold the rules several searchers share (option checks, random draws, best-so-far).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

from suite.core.distribution import Draw, GraphDistribution
from suite.core.errors import ConfigError, SuiteError
from suite.core.gradient import grad_log_prob
from suite.core.graph import FINAL, CollabGraph, Role
from suite.core.space import GraphSpace, Mix
from suite.prompts import Message

T = TypeVar("T")

RECOMMEND = ("best", "last")
"""The ``recommend`` choices of most searchers: the best observed graph or the last one."""


@dataclass(frozen=True)
class AgentRequest:
    """One call to a searcher's agent LLM (Agent-REINFORCE's agent, LLM-proposal's proposer).

    Attributes:
        purpose: What the call is for (``init``, ``update``, ``propose``, ...).
        messages: The rendered chat, exactly what a real LLM reads; every agent, the
            rule-based ``heuristic`` one included, answers from these messages alone.
    """

    purpose: str
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class AgentReply:
    """The agent's text and what it cost in tokens."""

    text: str
    prompt_tokens: int
    output_tokens: int


class Agent(Protocol):
    """A chat model a searcher may call; the suite meters every call as search cost."""

    @property
    def name(self) -> str:
        """Label for results, e.g. ``heuristic`` or ``openai:deepseek-r1``."""
        ...

    def ask(self, request: AgentRequest) -> AgentReply:
        """Answer one request."""
        ...


@dataclass(frozen=True)
class SearchContext:
    """What a searcher is given once, in :meth:`Searcher.setup`.

    Attributes:
        space: The search space (pool, budget, cap, candidate edges).
        rng: The searcher's own generator, spawned from the run seed; its only randomness.
        n_iterations: Search iterations (each usually one proposal on ``batch_size`` questions);
            the loop itself stops on ``eval_budget``.
        batch_size: Questions each proposal is evaluated on, unless it asks for another number.
        eval_budget: Question evaluations the whole search may spend (the meter enforces it).
        agent: The metered agent LLM for searchers that use one (None when not configured).
        pilot: The task-level pilot's accuracies (``singles``: name -> accuracy,
            ``mix_accuracy``: [[mix, accuracy], ...]) for searchers whose ``needs_pilot`` is
            set; measured outside the search budget by :mod:`suite.engine.pilot`.
    """

    space: GraphSpace
    rng: np.random.Generator
    n_iterations: int
    batch_size: int
    eval_budget: int
    agent: Agent | None = None
    pilot: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Proposal:
    """A graph to evaluate, made by :meth:`Searcher.ask`.

    Attributes:
        graph: A feasible graph of the space.
        number: 0, 1, ... in ask order; :meth:`Searcher.tell` is matched on it.
        n_docs: Questions to evaluate it on (the loop may clip it to the budget left).
        info: JSON-able notes recorded with the trial (log-probability, repairs, fallbacks);
            ``info["iteration"]`` labels the trial's iteration (default: ``number``).
        uncapped: The FLOPs cap does not apply (the budget's integer units still do): only
            Agent-REINFORCE's pre-test graphs, which the official code runs uncapped.
    """

    graph: CollabGraph
    number: int
    n_docs: int
    info: Mapping[str, Any] = field(default_factory=dict)
    uncapped: bool = False


@dataclass(frozen=True)
class Observation:
    """What evaluating a proposal measured.

    Attributes:
        reward: Mean score over the evaluated questions (the search objective).
        scores: Per-question scores, in evaluation order.
        cost_flops: FLOPs the evaluation spent (all questions).
        latency_s: Mean per-question graph latency.
    """

    reward: float
    scores: tuple[float, ...]
    cost_flops: float
    latency_s: float


class Searcher(abc.ABC):
    """Base class of every searcher.

    Call order, owned by :mod:`suite.engine.loop`: ``setup(ctx)`` once; then repeatedly ``ask()``
    and ``tell(proposal, observation)`` for each proposal it returned; finally ``recommend()``.
    ``ask`` returns None when the searcher has nothing more to propose. ``state()`` may be
    called between any two calls and ``load_state`` on a freshly set-up searcher restores it.

    Subclasses set ``name`` (the registry and config key) and take their options as keyword
    arguments to ``__init__`` (from ``searcher/<name>.yaml``).
    """

    name: ClassVar[str] = ""
    uses_agent: ClassVar[bool] = False  # True: results label the row ``name[agent]``
    needs_pilot: ClassVar[bool] = False  # True: the run measures or reads the task's pilot first

    def __init__(self, **options: Any) -> None:
        if options:
            raise ConfigError(
                f"searcher '{self.name}' has no options {sorted(options)}; "
                f"see suite/conf/searcher/{self.name}.yaml"
            )
        self._ctx: SearchContext | None = None
        self._pending: dict[int, Proposal] = {}
        self._asked = 0

    @property
    def ctx(self) -> SearchContext:
        """The context given to :meth:`setup`."""
        if self._ctx is None:
            raise SuiteError(f"searcher '{self.name}' used before setup(ctx)")
        return self._ctx

    @property
    def agent(self) -> Agent:
        """The context's agent LLM (searchers with ``uses_agent`` get one at setup)."""
        if self.ctx.agent is None:
            raise SuiteError(f"searcher '{self.name}' has no agent")
        return self.ctx.agent

    def setup(self, ctx: SearchContext) -> None:
        """Receive the space and generator; called once, before the first ``ask``.

        Raises:
            ConfigError: if the searcher ``uses_agent`` and the context has none.
        """
        self._ctx = ctx
        if self.uses_agent and ctx.agent is None:
            raise ConfigError(f"searcher '{self.name}' needs an agent; set agent=heuristic")

    def ask(self) -> Proposal | None:
        """Return the next graph to evaluate, or None when done."""
        proposal = self._propose(self._asked)
        if proposal is not None:
            self._pending[proposal.number] = proposal
            self._asked += 1
        return proposal

    def tell(self, proposal: Proposal, observation: Observation) -> None:
        """Report the observation of a proposal returned by ``ask`` (each exactly once)."""
        if self._pending.pop(proposal.number, None) is None:
            raise SuiteError(
                f"tell() got proposal {proposal.number}, which ask() did not return or was told"
            )
        self._observe(proposal, observation)

    @abc.abstractmethod
    def _propose(self, number: int) -> Proposal | None:
        """Make proposal ``number`` (subclasses implement; ``ask`` does the bookkeeping)."""

    @abc.abstractmethod
    def _observe(self, proposal: Proposal, observation: Observation) -> None:
        """Learn from one observation."""

    @abc.abstractmethod
    def recommend(self) -> CollabGraph:
        """The graph the search returns (its best or its last: a searcher option)."""

    def state(self) -> dict[str, Any]:
        """JSON-able state for checkpoints: the ask count, the generator, then ``_state()``."""
        return {"asked": self._asked, "rng": self.rng_state(self.ctx.rng), **self._state()}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state` on a searcher already given the same context."""
        self._asked = int(state["asked"])
        self.set_rng_state(self.ctx.rng, state["rng"])
        self._load_state(state)

    def _state(self) -> dict[str, Any]:
        """The subclass's own JSON-able state (the base keeps the ask count and generator)."""
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`_state` (the generator is already restored)."""
        return None

    @staticmethod
    def rng_state(rng: np.random.Generator) -> dict[str, Any]:
        """A generator's state as JSON-able data."""
        return dict(rng.bit_generator.state)

    @staticmethod
    def set_rng_state(rng: np.random.Generator, state: Mapping[str, Any]) -> None:
        """Restore :meth:`rng_state` into a generator."""
        rng.bit_generator.state = dict(state)


# ---- helpers the searchers share ------------------------------------------------------------
def check_choice(key: str, value: object, choices: Sequence[str]) -> str:
    """``value`` when it is one of ``choices``.

    Raises:
        ConfigError: ``searcher.<key> must be 'a', 'b' or 'c', got '<value>'``.
    """
    if value not in choices:
        *head, tail = [f"'{c}'" for c in choices]
        listed = f"{', '.join(head)} or {tail}" if head else tail
        raise ConfigError(f"searcher.{key} must be {listed}, got '{value}'")
    return str(value)


def pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One of ``options``, uniformly, with one ``rng.integers`` draw."""
    return options[int(rng.integers(len(options)))]


def random_mix(space: GraphSpace, rng: np.random.Generator) -> Mix:
    """A least-leftover mix drawn uniformly (PAPER.md §8's random baselines)."""
    return pick(rng, space.feasible_mixes())


def feasible_sample(
    dist: GraphDistribution, rng: np.random.Generator, mix: Mix | None = None
) -> tuple[Draw, CollabGraph, tuple[str, ...]]:
    """Sample ``dist`` (with ``mix`` when given), then ``space.repair`` the realisation.

    Returns:
        The draw, the feasible graph and the ids of the nodes repair deleted.
    """
    draw = dist.sample(rng, mix=mix)
    graph, deleted = dist.space.repair(draw.full, rng)
    return draw, graph, deleted


def policy_sample(
    dist: GraphDistribution, rng: np.random.Generator
) -> tuple[CollabGraph, dict[str, np.ndarray], dict[str, Any]]:
    """One REINFORCE draw (PAPER.md §5 step 1): a graph for one question and its gradient.

    Returns:
        The feasible graph, the gradient of the draw's log-probability (for the later update),
        and what the trial records: log-probability, role fallback, repairs and unused nodes.
    """
    draw, graph, deleted = feasible_sample(dist, rng)
    grad = grad_log_prob(dist, draw.full, draw.order)
    info: dict[str, Any] = {
        "log_prob": draw.log_prob,
        "role_fallback": draw.role_fallback,
        **repair_report(draw.full, graph, deleted),
        "unused": list(graph.unused()),
    }
    return graph, grad, info


def repair_report(
    before: CollabGraph, after: CollabGraph, deleted: tuple[str, ...]
) -> dict[str, list[str]]:
    """What ``space.repair`` changed: deleted nodes, edges added into final, demoted fusers."""
    added = set(after.edges) - set(before.edges)
    return {
        "deleted_by_repair": list(deleted),
        "linked_to_final": [i for i in after.node_ids if (i, FINAL) in added],
        "fusers_demoted": [
            n.id
            for n in after.nodes
            if n.role is Role.ASSISTANT and before.node(n.id).role is Role.FUSER
        ],
    }


class BestSoFar:
    """The best observed graph, ties broken uniformly at random, and the last observed one.

    Ties use reservoir sampling on the searcher's generator, so each tied graph is kept with
    equal chance. :meth:`state` gives the ``best``, ``ties`` and ``last`` checkpoint keys.
    """

    def __init__(self) -> None:
        self.best: tuple[float, CollabGraph] | None = None
        self.ties = 0
        self.last: CollabGraph | None = None

    def observe(self, graph: CollabGraph, reward: float, rng: np.random.Generator) -> None:
        """Record one observation (draws from ``rng`` only on a tie)."""
        self.last = graph
        if self.best is None or reward > self.best[0]:
            self.best, self.ties = (reward, graph), 1
        elif reward == self.best[0]:
            self.ties += 1  # reservoir sampling keeps each tied graph with equal chance
            if rng.random() < 1.0 / self.ties:
                self.best = (reward, graph)

    def chosen(self, mode: str) -> CollabGraph | None:
        """The ``best`` or ``last`` graph for that mode; None before any, or for another mode."""
        if mode == "best":
            return None if self.best is None else self.best[1]
        return self.last if mode == "last" else None

    def state(self) -> dict[str, Any]:
        """JSON-able ``best``, ``ties`` and ``last``."""
        return {
            "best": None if self.best is None else [self.best[0], self.best[1].to_dict()],
            "ties": self.ties,
            "last": None if self.last is None else self.last.to_dict(),
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`."""
        best = state["best"]
        self.best = None if best is None else (float(best[0]), CollabGraph.from_dict(best[1]))
        self.ties = int(state["ties"])
        self.last = None if state["last"] is None else CollabGraph.from_dict(state["last"])
