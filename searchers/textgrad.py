"""The TextGrad-style baseline (PAPER.md §8, ``TextgradSwarm``): the agent loop, uninformed.

Same loop and reply format as Agent-REINFORCE, but its own prompt
(``suite/prompts/agent/textgrad.yaml``, after the official ``get_llm_forward_textgrad``): no
insight notes, no pilot data, no R-4/R-5 insight rules, only the rules on counts, roles,
schema, acyclicity and FinalDecision; a random feasible mix, an edge table starting at 0.500,
and one round of history. The ``heuristic`` agent, reading that prompt, applies no insight.
"""

from __future__ import annotations

from typing import Any, ClassVar

from suite.search.agent_loop import AgentLoopSearcher
from suite.search.searcher import Proposal, random_mix


class TextgradSearcher(AgentLoopSearcher):
    """Agent-driven graph edits without the paper's insights (a configured baseline).

    Args:
        **loop: Options of :class:`~suite.search.agent_loop.AgentLoopSearcher`; ``history_rounds``
            defaults to 1 here, as in the paper's baseline.
    """

    name: ClassVar[str] = "textgrad"
    with_insights: ClassVar[bool] = False
    initial_table_prob: ClassVar[float] = 0.5

    def __init__(self, **loop: Any) -> None:
        loop.setdefault("history_rounds", 1)
        super().__init__(**loop)

    def _prelude(self, number: int) -> Proposal | None:
        """Draw one feasible mix at random; the loop starts at once."""
        self.mix = random_mix(self.ctx.space, self.ctx.rng)
        return None
