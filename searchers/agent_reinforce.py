"""Agent-REINFORCE (PAPER.md §6): an LLM agent's written feedback in place of a gradient.

Stages, all through ask/tell and all charged to the search budget: a pilot measured on the
current backend (single models, one random graph per candidate mix), the agent's
insight-guided choice of two mixes, a one-question pre-test of up to five reduced variants
of each, then the sample -> evaluate -> agent-update loop of :mod:`suite.search.agent_loop`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from suite.core.errors import ConfigError, ProposalParseError
from suite.core.graph import CollabGraph
from suite.core.space import Mix
from suite.search import llm_search as ls
from suite.search.agent_loop import AgentLoopSearcher
from suite.search.searcher import AgentRequest, Observation, Proposal, feasible_sample, pick


class AgentReinforceSearcher(AgentLoopSearcher):
    """The paper's method; with ``agent=heuristic`` its rows read ``agent_reinforce[heuristic]``.

    Args:
        pilot_questions: Search questions each single model is measured on (suite rule: the
            data block comes from a pilot the suite runs itself, never from the paper).
        pilot_mix_questions: Questions for the one random graph of each candidate mix
            (0 skips the random-graph pilot).
        pretest_variants: Variants per returned mix in the pre-test (paper: 5).
        pilot_share: The largest share of the search's question evaluations the pilot may
            spend. Single models come first; when the candidate mixes do not all fit, an
            evenly random subset of them is measured (recorded as ``pilot_mixes``), so the
            pre-test and the loop keep budget at large unit budgets.
        **loop: Options of :class:`~suite.search.agent_loop.AgentLoopSearcher`.
    """

    name: ClassVar[str] = "agent_reinforce"

    def __init__(
        self,
        pilot_questions: int = 2,
        pilot_mix_questions: int = 1,
        pretest_variants: int = 5,
        pilot_share: float = 0.5,
        **loop: Any,
    ) -> None:
        super().__init__(**loop)
        if pilot_questions < 0 or pilot_mix_questions < 0 or pretest_variants < 1:
            raise ConfigError("pilot sizes must be >= 0 and pretest_variants >= 1")
        if not 0.0 < pilot_share <= 1.0:
            raise ConfigError(f"searcher.pilot_share must be in (0, 1], got {pilot_share}")
        self.pilot_share = pilot_share
        self.pilot_questions = pilot_questions
        self.pilot_mix_questions = pilot_mix_questions
        self.pretest_variants = pretest_variants
        self.phase = "pilot"
        self.queue: list[dict[str, Any]] = []
        self.singles: dict[str, float] = {}
        self.mix_accuracy: dict[Mix, float] = {}
        self.pretest: list[tuple[list[int], float]] = []
        self.init_notes: dict[str, Any] = {}

    # ---- stages before the loop ------------------------------------------------------------
    def _prelude(self, number: int) -> Proposal | None:
        if self.phase == "pilot" and not self.queue and not self.singles and not self.mix_accuracy:
            self.queue = self._pilot_plan()
        if self.phase == "pilot" and not self.queue:
            self.phase = "pretest"
            self.queue = self._pretest_plan()
        if self.phase == "pretest" and not self.queue and self.pretest:
            self._choose_mix()
            return None
        item = self.queue.pop(0)
        info = {k: v for k, v in item.items() if k not in ("graph", "n_docs")}
        return Proposal(CollabGraph.from_dict(item["graph"]), number, int(item["n_docs"]), info)

    def _pilot_plan(self) -> list[dict[str, Any]]:
        """Single models that fit the budget, then one prior graph per candidate mix.

        The pilot spends at most ``pilot_share`` of the search budget; mixes beyond it are
        left out by a seeded draw that keeps their order.
        """
        space, rng = self.ctx.space, self.ctx.rng
        plan: list[dict[str, Any]] = []
        if self.pilot_questions:
            for k in space.affordable(space.budget_units):
                name = space.models[k].name
                plan.append(
                    {
                        "phase": "pilot",
                        "single": name,
                        "n_docs": self.pilot_questions,
                        "graph": CollabGraph.single(name).to_dict(),
                    }
                )
        if self.pilot_mix_questions:
            mixes = space.feasible_mixes()
            allowance = math.floor(self.pilot_share * self.ctx.eval_budget + 1e-9)
            room = max(0, allowance - len(plan) * self.pilot_questions) // self.pilot_mix_questions
            if room < len(mixes):
                keep = sorted(int(k) for k in rng.choice(len(mixes), size=room, replace=False))
                self.init_notes = {"pilot_mixes": f"{room} of {len(mixes)} (pilot_share)"}
                mixes = tuple(mixes[k] for k in keep)
            for mix in mixes:
                graph = feasible_sample(self.prior, rng, mix)[1]
                plan.append(
                    {
                        "phase": "pilot",
                        "mix": list(mix),
                        "graph": graph.to_dict(),
                        "n_docs": self.pilot_mix_questions,
                    }
                )
        return plan

    def _pretest_plan(self) -> list[dict[str, Any]]:
        """One agent call for two mixes (§6 step 2), then their variants (step 3)."""
        vectors, notes = self._initial_mixes()
        notes = {**self.init_notes, **notes}
        self.init_notes = notes
        half = ls.table_distribution(self.ctx.space, 0.5)
        plan = []
        for vec in vectors:
            for variant in self._variants(vec):
                # all-assistant (IO), as the official pre-test graphs are
                graph = ls.all_assistant(feasible_sample(half, self.ctx.rng, variant)[1])
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
        info = proposal.info
        if info.get("phase") == "pilot" and "single" in info:
            self.singles[str(info["single"])] = observation.reward
        elif info.get("phase") == "pilot":
            self.mix_accuracy[tuple(int(c) for c in info["mix"])] = observation.reward
        else:
            self.pretest.append((list(info["mix"]), observation.reward))

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
