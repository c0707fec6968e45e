"""The lazy registry: config option names map to ``module:Class`` and import only on use.

Names equal the config file names (``searcher=random`` -> ``suite/conf/searcher/random.yaml``
-> ``searchers.random:RandomSearcher``); a test keeps the two in step.
"""

from __future__ import annotations

import importlib
from typing import Any

from suite.core.errors import ConfigError, did_you_mean

REGISTRY: dict[str, dict[str, str]] = {
    "searcher": {
        "agent_reinforce": "searchers.agent_reinforce:AgentReinforceSearcher",
        "llm_proposal": "searchers.llm_proposal:LlmProposalSearcher",
        "maao": "searchers.maao:MaaoSearcher",
        "optuna_tpe": "searchers.optuna_tpe:OptunaTpeSearcher",
        "random": "searchers.random:RandomSearcher",
        "reinforce": "searchers.reinforce:ReinforceSearcher",
        "textgrad": "searchers.textgrad:TextgradSearcher",
    },
    "agent": {
        "heuristic": "suite.search.agents:HeuristicAgent",
        "openai": "suite.search.agents:OpenAIAgent",
        "vllm": "suite.search.agents:OpenAIAgent",
        "vllm_engine": "suite.search.vllm_agent:VllmEngineAgent",
    },
    "backend": {
        "openai": "suite.backends.openai:OpenAIBackend",
        "sim": "suite.backends.sim:SimBackend",
        "vllm": "suite.backends.vllm:VllmBackend",
    },
}


def names(kind: str) -> list[str]:
    """Registered names of one kind, sorted."""
    return sorted(REGISTRY[kind])


def resolve(kind: str, name: str) -> Any:
    """Import and return the class registered as ``name``.

    Raises:
        ConfigError: for an unknown name, listing the closest matches.
    """
    table = REGISTRY[kind]
    if name not in table:
        raise ConfigError(f"unknown {kind} '{name}'; {did_you_mean(name, names(kind))}")
    module, _, attr = table[name].partition(":")
    return getattr(importlib.import_module(module), attr)
