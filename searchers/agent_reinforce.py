"""Agent-REINFORCE (PAPER.md §6): an LLM agent's written feedback in place of a gradient.

Stages: the data block comes from the task-level pilot (:mod:`suite.engine.pilot`, measured
once outside the search budget and handed over in ``SearchContext.pilot``); then, through
ask/tell and charged to the search budget, the agent's insight-guided choice of two mixes, a
one-question pre-test of up to five reduced variants of each, and ``n_iterations`` rounds of
the sample -> evaluate -> agent-update loop of :mod:`suite.search.agent_loop`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from suite.core.errors import ConfigError, ProposalParseError
from suite.core.graph import CollabGraph
from suite.core.space import Mix
from suite.search import llm_search as ls
from suite.search.agent_loop import AgentLoopSearcher
from suite.search.searcher import (
    AgentRequest,
    Observation,
    Proposal,
    SearchContext,
    pick,
)


class AgentReinforceSearcher(AgentLoopSearcher):
    """The paper's method; with ``agent=heuristic`` its rows read ``agent_reinforce[heuristic]``.

    The loop stops after ``n_iterations`` rounds (the paper's fixed count), so the search
    budget is an upper bound: pre-test plus 10 x 3 questions fits the default 40.

    Args:
        pilot_questions: Search questions per pilot row (single models and one random graph
            per candidate mix); read by :mod:`suite.engine.pilot`, which measures the pilot
            once per task, pool, backend and budget (PAPER.md §6 suite rule: about 100).
        pretest_variants: Variants per returned mix in the pre-test (paper: 5).
        **loop: Options of :class:`~suite.search.agent_loop.AgentLoopSearcher`.
    """

    name: ClassVar[str] = "agent_reinforce"
    needs_pilot: ClassVar[bool] = True

    def __init__(self, pilot_questions: int = 100, pretest_variants: int = 5, **loop: Any) -> None:
        super().__init__(**loop)
        if pilot_questions < 1 or pretest_variants < 1:
            raise ConfigError("pilot_questions and pretest_variants must be >= 1")
        self.pilot_questions = pilot_questions
        self.pretest_variants = pretest_variants
        self.phase = "pretest"
        self.queue: list[dict[str, Any]] = []
        self.singles: dict[str, float] = {}
        self.mix_accuracy: dict[Mix, float] = {}
        self.pretest: list[tuple[list[int], float]] = []
        self.init_notes: dict[str, Any] = {}

    def setup(self, ctx: SearchContext) -> None:
        """Keep the context and read the pilot's rows (none: the data block says so)."""
        super().setup(ctx)
        pilot = ctx.pilot or {}
        self.singles = {str(k): float(v) for k, v in (pilot.get("singles") or {}).items()}
        self.mix_accuracy = {
            tuple(int(c) for c in m): float(a) for m, a in pilot.get("mix_accuracy") or []
        }
        if ctx.pilot is None:
            self.init_notes = {"pilot": "none given"}

    # ---- stages before the loop ------------------------------------------------------------
    def _propose(self, number: int) -> Proposal | None:
        if self.mix is not None and self.iteration >= self.ctx.n_iterations:
            return None  # the paper's fixed iteration count; leftover budget stays unspent
        return super()._propose(number)

    def _prelude(self, number: int) -> Proposal | None:
        if self.phase == "pretest" and not self.queue and not self.pretest:
            self.queue = self._pretest_plan()
        if not self.queue:
            self._choose_mix()
            return None
        item = self.queue.pop(0)
        info = {k: v for k, v in item.items() if k not in ("graph", "n_docs")}
        graph = CollabGraph.from_dict(item["graph"])
        uncapped = item.get("phase") == "pretest"
        return Proposal(graph, number, int(item["n_docs"]), info, uncapped=uncapped)

    def _pretest_plan(self) -> list[dict[str, Any]]:
        """One agent call for two mixes (§6 step 2), then their variants (step 3)."""
        vectors, notes = self._initial_mixes()
        notes = {**self.init_notes, **notes}
        self.init_notes = notes
        half = ls.table_distribution(self.ctx.space, 0.5)
        plan = []
        for vec in vectors:
            for variant in self._variants(vec):
                # all-assistant (IO) and not cut to the FLOPs cap, as the official pre-test
                # graphs are (PAPER.md §6 step 3); the loop checks them without the cap
                graph = ls.all_assistant(half.sample(self.ctx.rng, mix=variant).full)
                plan.append(
                    {
                        "phase": "pretest",
                        "mix": list(variant),
                        "graph": graph.to_dict(),
                        "n_docs": 1,
                        **notes,
                    }
                )
                notes = {}
        return plan

    def _initial_mixes(self) -> tuple[list[Mix], dict[str, Any]]:
        space, agent = self.ctx.space, self.agent
        mixes = space.feasible_mixes()
        self.data_text = self._data_block()
        messages = ls.render(
            "init",
            budget=space.budget_units,
            insights=ls.insights("init"),
            data=self.data_text,
            keys=", ".join(f"{k}={m}" for k, m in enumerate(space.model_names)),
            mixes="\n".join(ls.mix_vector(m) for m in mixes),
            example=ls.mix_vector(mixes[-1]),
        )
        errors: list[str] = []
        for _ in range(self.max_attempts):
            reply = agent.ask(AgentRequest("init", messages))
            try:
                vectors = ls.parse_mix_vectors(reply.text, space)[:2]
                return vectors, {"init_attempts": len(errors) + 1, "init_errors": errors}
            except ProposalParseError as exc:
                errors.append(str(exc))
        ranked = sorted(mixes, key=lambda m: -self.mix_accuracy.get(m, 0.0))
        return list(ranked[:2]), {"init_errors": errors, "init_fallback": "two best pilot mixes"}

    def _data_block(self) -> str:
        space = self.ctx.space
        lines = [f"- single {m}: {ls.percent(a)}" for m, a in self.singles.items()]
        lines += [
            f"- random graph with mix {space.format_mix(m)}: {ls.percent(a)}"
            for m, a in self.mix_accuracy.items()
        ]
        return "\n".join(lines) or "(no pilot data)"

    def _variants(self, mix: Mix) -> list[Mix]:
        """The mix, then copies with one more model removed each time, smallest first."""
        out, current = [tuple(mix)], list(mix)
        while len(out) < self.pretest_variants:
            k = next((i for i, c in enumerate(current) if c > 0), None)
            if k is None:
                break
            current[k] -= 1
            if sum(current) == 0:
                break
            out.append(tuple(current))
        return out

    def _choose_mix(self) -> None:
        """The best pre-test variant wins; ties at random (§6 step 3)."""
        top = max(r for _, r in self.pretest)
        tied = [m for m, r in self.pretest if r == top]
        self.mix = tuple(pick(self.ctx.rng, tied))
        self.phase = "loop"

    def _observe_prelude(self, proposal: Proposal, observation: Observation) -> None:
        self.pretest.append((list(proposal.info["mix"]), observation.reward))

    # ---- state -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            **super()._state(),
            "phase": self.phase,
            "queue": self.queue,
            "singles": self.singles,
            # checkpoints keep the mix keys as text, e.g. "[3, 0, 1]"
            "mix_accuracy": {str(list(m)): a for m, a in self.mix_accuracy.items()},
            "pretest": self.pretest,
            "init_notes": self.init_notes,
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        self.phase = str(state["phase"])
        self.queue = [dict(q) for q in state["queue"]]
        self.singles = {str(k): float(v) for k, v in state["singles"].items()}
        self.mix_accuracy = {
            tuple(json.loads(k)): float(v) for k, v in state["mix_accuracy"].items()
        }
        self.pretest = [(list(m), float(r)) for m, r in state["pretest"]]
        self.init_notes = dict(state["init_notes"])
