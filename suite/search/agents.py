"""The searchers' agent LLMs: the rule-based ``heuristic`` default and any OpenAI-compatible chat.

Agents answer :class:`~suite.search.searcher.AgentRequest`s with text; :class:`MeteredAgent` charges
every call to the run's meter as search cost.
"""

from __future__ import annotations

import time  # noqa: F401  (kept public: tests patch suite.search.agents.time.sleep, the backoff's sleep)
from collections.abc import Mapping
from typing import Any

from suite.backends.chat_http import ChatEndpoint, approx_tokens
from suite.core.errors import ConfigError
from suite.core.meter import Meter
from suite.core.space import GraphSpace
from suite.search import heuristics
from suite.search.searcher import Agent, AgentReply, AgentRequest


class HeuristicAgent:
    """A deterministic stand-in for the agent LLM (labelled ``heuristic`` in every output).

    It reads only the request's messages (exactly what an LLM receives) and writes the reply
    format a real agent must write, so the searchers' prompt rendering and their
    parse/retry/fallback machinery run for real. The rules are the paper's insights
    (PAPER.md §7), applied only where the prompt carries them; see :mod:`suite.search.heuristics`.
    """

    def __init__(self, space: GraphSpace) -> None:
        self.space = space

    @property
    def name(self) -> str:
        """``heuristic``."""
        return "heuristic"

    @classmethod
    def create(cls, options: Mapping[str, Any], space: GraphSpace) -> HeuristicAgent:
        """Build from ``agent/heuristic.yaml`` (no options)."""
        if options:
            raise ConfigError(f"agent heuristic has no options {sorted(options)}")
        return cls(space)

    def ask(self, request: AgentRequest) -> AgentReply:
        """Answer from the rendered chat alone, by the rules for what it asks."""
        text = heuristics.reply(request.messages)
        prompt = "".join(content for _, content in request.messages)
        return AgentReply(text, approx_tokens(prompt), approx_tokens(text))


class OpenAIAgent:
    """Chat completions from an OpenAI-compatible endpoint, with retries and backoff.

    The API key is read from the environment variable named by ``api_key_env`` at call time;
    it is never stored in results, logs or error messages.
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_tokens: int = 16384,
        temperature: float = 0.1,
        timeout_s: float = 600.0,
        retries: int = 3,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.endpoint = ChatEndpoint(
            model,
            base_url,
            api_key_env,
            timeout_s,
            retries,
            label="agent model",
            hint="check agent.base_url and that the server is up",
        )
        self.url = self.endpoint.url

    @property
    def name(self) -> str:
        """``openai:<model>``."""
        return f"openai:{self.model}"

    @classmethod
    def create(cls, options: Mapping[str, Any], space: GraphSpace) -> OpenAIAgent:
        """Build from ``agent/openai.yaml`` options."""
        allowed = {
            "model",
            "base_url",
            "api_key_env",
            "max_tokens",
            "temperature",
            "timeout_s",
            "retries",
        }
        extra = sorted(set(options) - allowed)
        if extra:
            raise ConfigError(f"agent openai has no options {extra}; it takes {sorted(allowed)}")
        return cls(**dict(options))

    def ask(self, request: AgentRequest) -> AgentReply:
        """POST the chat and return the first choice.

        Raises:
            BackendError: after ``retries`` failed attempts (names model and endpoint).
        """
        reply = self.endpoint.chat(request.messages, self.max_tokens, self.temperature)
        return AgentReply(reply.text, reply.prompt_tokens, reply.output_tokens)


class MeteredAgent:
    """Wraps an agent so every call is charged to the meter under purpose ``agent``."""

    def __init__(self, inner: Agent, meter: Meter) -> None:
        self.inner = inner
        self.meter = meter

    @property
    def name(self) -> str:
        """The wrapped agent's name."""
        return self.inner.name

    def ask(self, request: AgentRequest) -> AgentReply:
        """Forward the call and meter its tokens (agent FLOPs are not modelled: 0)."""
        reply = self.inner.ask(request)
        self.meter.charge_call("agent", self.inner.name, _Usage(reply), 0.0)
        return reply

    def describe(self) -> dict[str, object] | None:
        """What the agent reports of itself (an engine's start time, its cache), or None."""
        describe = getattr(self.inner, "describe", None)
        return dict(describe()) if callable(describe) else None

    def close(self) -> None:
        """Release what the agent holds (an engine, a cache file), if anything."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


class _Usage:
    def __init__(self, reply: AgentReply) -> None:
        self.prompt_tokens = reply.prompt_tokens
        self.output_tokens = reply.output_tokens
        self.latency_s = 0.0
