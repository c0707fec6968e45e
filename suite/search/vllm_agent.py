"""The ``vllm_engine`` agent: the searchers' LLM on an in-process vLLM engine."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from suite.backends import cache
from suite.backends.base import Backend, NodeCall
from suite.backends.serving import INSTALL_HINT, SERVE_KEYS, serve_specs
from suite.backends.vllm import VllmBackend
from suite.core.errors import ConfigError
from suite.core.graph import CallKind
from suite.search.searcher import AgentReply, AgentRequest


class VllmEngineAgent:
    """The searchers' agent LLM on an in-process vLLM engine (``agent=vllm_engine``).

    The engine code is the ``vllm`` backend's, and like the backend it sits behind the call
    cache (``agent.cache``): a search whose agent calls all hit replays without importing vLLM
    or starting the engine, which starts at the first miss.
    :class:`suite.search.agents.MeteredAgent` charges every call as search cost.
    (``agent=vllm`` instead reaches a vLLM *server* over HTTP.)

    Args:
        backend: A one-model :class:`VllmBackend` holding the agent's engine, or the call
            cache wrapped around one.
        model: The model's label (its hub id unless ``weights`` names a folder).
        max_tokens: Generation limit per request.
        temperature: Sampling temperature.
    """

    def __init__(self, backend: Backend, model: str, max_tokens: int, temperature: float):
        self.backend = backend
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature

    @property
    def name(self) -> str:
        """``vllm_engine:<model>``."""
        return f"vllm_engine:{self.model}"

    @classmethod
    def create(cls, options: Mapping[str, Any], space: Any) -> VllmEngineAgent:
        """Build from ``agent/vllm_engine.yaml`` (serving keys as in a pool's ``serve:``).

        Its schema (``suite.config.schema.VllmEngineAgentSchema``) checked the keys.
        """
        model = str(options.get("model") or "")
        if not model:
            raise ConfigError("agent.model must name the agent's model (a hub id or a label)")
        serve = {k: options[k] for k in SERVE_KEYS if options.get(k) is not None}
        spec = serve_specs([{"name": model, "hf_id": model, "serve": serve}], "agent")[model]
        if importlib.util.find_spec("vllm") is None:
            raise ConfigError(f"agent vllm_engine needs vLLM: {INSTALL_HINT}")
        spec.source()  # missing weights fail now, with the command that builds them
        engine = VllmBackend(
            {model: spec},
            device=str(options.get("device", "auto")),
            seed=int(options.get("seed", 0)),
            cpu_dtype=str(options.get("cpu_dtype", "float32")),
            cpu_kv_cache_gib=int(options.get("cpu_kv_cache_gib", 2)),
        )
        backend = cache.wrap(engine, options.get("cache"), key="agent.cache")
        temperature = float(options.get("temperature", 0.1))
        return cls(backend, model, spec.max_tokens or 4096, temperature)

    def ask(self, request: AgentRequest) -> AgentReply:
        """Answer one request with one ``generate`` call on the agent's engine."""
        call = NodeCall(
            task="agent",
            doc_id=request.purpose,
            node_id="agent",
            kind=CallKind.DIRECT,
            model=self.model,
            messages=request.messages,
            inputs=(),
            sample_index=0,
            depth=0,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
        (done,) = self.backend.generate(self.model, [call])
        return AgentReply(done.text, done.prompt_tokens, done.output_tokens)

    def describe(self) -> dict[str, object]:
        """The engine's device, identity and start time, and the call cache's counters."""
        return self.backend.describe()

    def close(self) -> None:
        """Shut the engine down (if it started) and close the cache file."""
        self.backend.close()
