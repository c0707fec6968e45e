"""The agent-driven graph loop of Agent-REINFORCE (PAPER.md §6 steps 4-9), shared with TextGrad.

Each round the agent reads the last graph, its batch accuracy and the edge-probability table,
and writes the next graph and an updated table; bad replies are retried, then replaced by a
sample from the table. Subclasses choose the mix and what the prompt includes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from suite.core.distribution import GraphDistribution
from suite.core.errors import ConfigError, ForeignScriptError, ProposalParseError, SuiteError
from suite.core.graph import CollabGraph
from suite.core.space import Mix
from suite.prompts import Message
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
)


class AgentLoopSearcher(Searcher):
    """Sample, evaluate, let the agent rewrite graph and table, repeat (PAPER.md §6).

    Subclasses implement :meth:`_prelude` (proposals before the loop, e.g. Agent-REINFORCE's
    pilot and pre-test; return None when the loop may start) and set the class options below.

    Args:
        recommend: ``last`` (the paper's choice) or ``best``.
        max_attempts: Agent attempts per round before falling back to a table sample.
        history_rounds: Earlier rounds shown to the agent as user/assistant pairs.
        objective: ``accuracy``, or ``accuracy_latency`` (the paper's latency prompt; the
            reward the searcher tracks becomes accuracy - latency_weight * latency_s).
        latency_weight: Accuracy points per second of latency under ``accuracy_latency``.
    """

    uses_agent: ClassVar[bool] = True
    with_insights: ClassVar[bool] = True
    initial_table_prob: ClassVar[float] = 0.0
    max_history_mix: ClassVar[int] = 5

    def __init__(
        self,
        recommend: str = "last",
        max_attempts: int = 3,
        history_rounds: int = 2,
        objective: str = "accuracy",
        latency_weight: float = 0.01,
    ) -> None:
        super().__init__()
        check_choice("recommend", recommend, RECOMMEND)
        check_choice("objective", objective, ("accuracy", "accuracy_latency"))
        if max_attempts < 1 or history_rounds < 0:
            raise ConfigError("searcher.max_attempts must be >= 1 and history_rounds >= 0")
        self.recommend_mode = recommend
        self.max_attempts = max_attempts
        self.history_rounds = history_rounds
        self.objective = objective
        self.latency_weight = latency_weight
        self.mix: Mix | None = None
        self.graph: CollabGraph | None = None
        self.last_reward: float | None = None
        self.best: tuple[float, CollabGraph] | None = None
        self.prelude_best: tuple[float, CollabGraph] | None = None
        self.rounds: list[tuple[str, str]] = []
        self.iteration = 0
        self.data_text = ""
        self.last_reward_accuracy = 0.0
        self._latency = 0.0
        self._best_before = 0.0

    def setup(self, ctx: SearchContext) -> None:
        """Keep the context and build the edge table and the prior; the agent is required."""
        super().setup(ctx)
        self.table = ls.table_distribution(ctx.space, self.initial_table_prob)
        self.prior = GraphDistribution(ctx.space)

    # ---- proposals -------------------------------------------------------------------------
    def _prelude(self, number: int) -> Proposal | None:
        """Proposals before the loop (pilot, pre-test); None once the loop may start."""
        return None

    def _propose(self, number: int) -> Proposal | None:
        early = self._prelude(number) if self.mix is None else None
        if early is not None:
            return early
        if self.mix is None:
            raise SuiteError(f"searcher '{self.name}' chose no mix before its loop")
        info: dict[str, Any] = {"phase": "loop", "iteration": self.iteration, "mix": list(self.mix)}
        if self.graph is None:
            # Iteration 0 (§6 step 4): a prior sample with the mix, edges about 0.12.
            _, sampled, deleted = feasible_sample(self.prior, self.ctx.rng, self.mix)
            graph = ls.canonical(sampled)  # the agent is shown, and answers in, n0..n{k-1}
            info["deleted_by_repair"] = list(deleted)
        else:
            graph, notes = self._agent_round()
            info.update(notes)
        self.graph = graph
        self.iteration += 1
        return Proposal(graph, number, self.ctx.batch_size, info)

    def _agent_round(self) -> tuple[CollabGraph, dict[str, Any]]:
        """One update call (§6 steps 6-8), with retries and the table-sample fallback."""
        assert self.graph is not None and self.mix is not None
        agent = self.agent
        errors: list[str] = []
        history = self.history_rounds if sum(self.mix) <= self.max_history_mix else 0
        for _ in range(self.max_attempts):
            request = self._update_request(history)
            reply = agent.ask(request)
            try:
                graph, table = self._apply(reply.text)
            except ProposalParseError as exc:
                errors.append(str(exc))
                if isinstance(exc, ForeignScriptError):
                    history = 0  # the paper drops the history after a foreign-script reply
                continue
            self.table = table
            self.rounds = [*self.rounds, (request.messages[-1][1], reply.text)][-2:]
            return graph, {"agent_attempts": len(errors) + 1, "parse_errors": errors}
        graph, source = ls.graph_from_table(self.table, self.mix, self.ctx.rng)
        return graph, {
            "agent_attempts": len(errors),
            "parse_errors": errors,
            "fallback": f"sampled from {source} after ProposalParseError",
        }

    def _update_request(self, history: int) -> AgentRequest:
        """The update chat: system, ``history`` earlier rounds, then this round's prompt.

        The prompt is ``update`` (insights, R-4/R-5, the pilot data) or, for a searcher
        without insights, ``textgrad`` (only the rules on counts, roles, schema, acyclicity
        and FinalDecision). Deliberate difference from the official prompts: the best
        accuracy of earlier rounds is shown, so "helped" in R-4 can be judged from the text.
        """
        assert self.graph is not None and self.mix is not None
        space = self.ctx.space
        insights = ls.insights("update") if self.with_insights else ""
        objective = ""
        if self.objective == "accuracy_latency":
            objective = (
                f"- Last-round inference latency: {self._latency:.2f} s. Goal: minimise latency "
                "while keeping accuracy usable; models may stay unused (no node line) under R-1."
            )
            insights = f"{insights}\n{ls.insights('latency')}" if self.with_insights else ""
        messages = ls.render(
            "update" if self.with_insights else "textgrad",
            mix=space.format_mix(self.mix),
            graph=ls.role_text(self.graph),
            accuracy=ls.percent(self.last_reward_accuracy),
            best="none (first round)" if self.iteration <= 1 else ls.percent(self._best_before),
            objective=objective,
            table=ls.edge_table(self.table, ls.prefix_ids(self.mix)),
            data=self.data_text if self.with_insights else "",
            insights=insights,
            example=ls.example_reply(space),
        )
        past: list[Message] = []
        for user, assistant in self.rounds[-history:] if history else []:
            past += [("user", user), ("assistant", assistant)]
        return AgentRequest("update", (messages[0], *past, messages[1]))

    def _apply(self, text: str) -> tuple[CollabGraph, GraphDistribution]:
        """Parse a reply into the next graph and table (§6 step 8), or raise with the reason."""
        assert self.mix is not None
        graph_block, table_block = ls.split_blocks(text)
        if table_block is None:
            raise ProposalParseError("the reply has no 'Edge-probabilities:' block")
        relaxed = self.objective == "accuracy_latency"
        parsed = ls.parse_graph(
            graph_block, self.ctx.space, ls.prefix_ids(self.mix), None if relaxed else self.mix
        )
        if relaxed and any(
            a > b for a, b in zip(self.ctx.space.mix_of(parsed), self.mix, strict=True)
        ):
            raise ProposalParseError("the graph uses more of a model than the mix holds")
        rows = [ln for ln in table_block.splitlines() if re.match(r"\s*\d+\s*:\s*src=", ln)]
        table = self.table.from_table("\n".join(rows))  # prose around the rows is ignored
        graph, _ = self.ctx.space.repair(parsed, self.ctx.rng)
        return graph, table

    # ---- observations ----------------------------------------------------------------------
    def _observe(self, proposal: Proposal, observation: Observation) -> None:
        if proposal.info.get("phase", "loop") != "loop":
            best = self.prelude_best
            if proposal.graph.nodes and (best is None or observation.reward > best[0]):
                self.prelude_best = (observation.reward, proposal.graph)
            self._observe_prelude(proposal, observation)
            return
        reward = observation.reward
        if self.objective == "accuracy_latency":
            reward -= self.latency_weight * observation.latency_s
        self._best_before = self.best[0] if self.best else 0.0
        self.last_reward = reward
        self.last_reward_accuracy = observation.reward
        self._latency = observation.latency_s
        if self.best is None or reward > self.best[0]:
            self.best = (reward, proposal.graph)

    def _observe_prelude(self, proposal: Proposal, observation: Observation) -> None:
        """Learn from a pilot or pre-test proposal (subclasses)."""

    def recommend(self) -> CollabGraph:
        """The last graph of the loop (the paper), or the best seen with ``recommend=best``.

        When the budget ends before the loop starts, the best multi-node graph of the stages
        before it (pilot, pre-test) is returned; the prior's mode only when there is none.
        """
        if self.recommend_mode == "best" and self.best is not None:
            return self.best[1]
        if self.graph is not None:
            return self.graph
        if self.prelude_best is not None:
            return self.prelude_best[1]
        return self.prior.mode()

    # ---- state -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "mix": None if self.mix is None else list(self.mix),
            "graph": None if self.graph is None else self.graph.to_dict(),
            "last_reward": self.last_reward,
            "last_accuracy": self.last_reward_accuracy,
            "latency": self._latency,
            "best_before": self._best_before,
            "best": None if self.best is None else [self.best[0], self.best[1].to_dict()],
            "prelude_best": None
            if self.prelude_best is None
            else [self.prelude_best[0], self.prelude_best[1].to_dict()],
            "rounds": [list(r) for r in self.rounds],
            "iteration": self.iteration,
            "table": self.table.state(),
            "data_text": self.data_text,
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.mix = None if state["mix"] is None else tuple(state["mix"])
        self.graph = None if state["graph"] is None else CollabGraph.from_dict(state["graph"])
        self.last_reward = state["last_reward"]
        self.last_reward_accuracy = float(state["last_accuracy"])
        self._latency = float(state["latency"])
        self._best_before = float(state["best_before"])
        best = state["best"]
        self.best = None if best is None else (float(best[0]), CollabGraph.from_dict(best[1]))
        pre = state.get("prelude_best")
        self.prelude_best = None if pre is None else (float(pre[0]), CollabGraph.from_dict(pre[1]))
        self.rounds = [(str(u), str(a)) for u, a in state["rounds"]]
        self.iteration = int(state["iteration"])
        self.table = GraphDistribution.from_state(self.ctx.space, state["table"])
        self.data_text = str(state["data_text"])
