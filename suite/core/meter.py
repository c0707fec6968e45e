"""The meter: one per run; every backend call and every question evaluation passes through it.

Budgets raise BudgetExceeded before work is done, so a searcher can never overspend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from suite.core.errors import BudgetExceeded


class _Usage(Protocol):
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def latency_s(self) -> float: ...


@dataclass
class Tally:
    """Running totals for one purpose (``search``, ``test``, ``agent``)."""

    calls: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    flops: float = 0.0
    call_latency_s: float = 0.0
    question_evals: int = 0
    graph_evals: int = 0
    by_model: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able totals."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "flops": self.flops,
            "call_latency_s": self.call_latency_s,
            "question_evals": self.question_evals,
            "graph_evals": self.graph_evals,
            "calls_by_model": dict(sorted(self.by_model.items())),
        }


class Meter:
    """Counts calls, tokens, FLOPs and evaluations per purpose, and enforces search budgets.

    Args:
        search_evals: Question evaluations the search may spend (iterations x batch size).
        search_flops: Optional cap on FLOPs spent by the search (graph calls and agent calls).
    """

    def __init__(self, search_evals: int, search_flops: float | None = None) -> None:
        self.search_evals = search_evals
        self.search_flops = search_flops
        self.tallies: dict[str, Tally] = {}
        self.started = time.perf_counter()

    def tally(self, purpose: str) -> Tally:
        """Totals of one purpose (created on first use)."""
        return self.tallies.setdefault(purpose, Tally())

    def charge_call(self, purpose: str, model: str, usage: _Usage, flops: float) -> None:
        """Record one backend call (a cache hit is charged what it would have cost)."""
        t = self.tally(purpose)
        t.calls += 1
        t.prompt_tokens += usage.prompt_tokens
        t.output_tokens += usage.output_tokens
        t.flops += flops
        t.call_latency_s += usage.latency_s
        t.by_model[model] = t.by_model.get(model, 0) + 1

    def search_evals_left(self) -> int:
        """Question evaluations the search may still spend."""
        return self.search_evals - self.tally("search").question_evals

    def reserve_search(self, n_questions: int) -> None:
        """Charge a graph evaluation on ``n_questions`` search questions, or refuse it.

        Raises:
            BudgetExceeded: if it would pass the evaluation budget or the FLOPs cap.
        """
        t = self.tally("search")
        if n_questions > self.search_evals_left():
            raise BudgetExceeded(
                f"search budget of {self.search_evals} question evaluations is spent"
            )
        spent = t.flops + self.tally("agent").flops
        if self.search_flops is not None and spent >= self.search_flops:
            raise BudgetExceeded(f"search FLOPs cap of {self.search_flops:.3e} is spent")
        t.question_evals += n_questions
        t.graph_evals += 1

    def wall_s(self) -> float:
        """Seconds since the meter was made."""
        return time.perf_counter() - self.started

    def as_dict(self) -> dict[str, Any]:
        """JSON-able totals of every purpose."""
        return {k: v.as_dict() for k, v in sorted(self.tallies.items())}

    def load_state(self, totals: dict[str, Any]) -> None:
        """Restore the totals of :meth:`as_dict` (after a resume; wall time restarts)."""
        for purpose, t in totals.items():
            tally = self.tally(purpose)
            for key in ("calls", "prompt_tokens", "output_tokens", "question_evals", "graph_evals"):
                setattr(tally, key, int(t[key]))
            tally.flops, tally.call_latency_s = float(t["flops"]), float(t["call_latency_s"])
            tally.by_model = {str(k): int(v) for k, v in t["calls_by_model"].items()}
