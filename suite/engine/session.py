"""Builds the parts one run needs from a RunConfig: space, task, backend, meter, executor.

Shared by ``suite.run`` and ``suite.evaluate``; it sees plain config values, never Hydra.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from suite import prompts
from suite.backends import cache
from suite.backends.base import Backend, BackendEnv
from suite.config import RunConfig, registry, space_of
from suite.core.meter import Meter
from suite.core.space import GraphSpace
from suite.data.tasks import TaskAdapter
from suite.engine.executor import Executor
from suite.engine.scores import RecordedScores, ScoreMany
from suite.prompts import PromptSet
from suite.search.agents import MeteredAgent


def progress(message: str) -> None:
    """Print a one-line progress message to stderr."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Session:
    """The run's long-lived parts, built once in :func:`build` and closed once.

    ``score_many`` is the scorer searches and tests use: the task's own, read through the
    scores recorded in the call cache when ``backend.cache`` is on (``suite.engine.scores``).
    """

    conf: RunConfig
    space: GraphSpace
    prompts: PromptSet
    task: TaskAdapter
    backend: Backend
    meter: Meter
    executor: Executor
    agent: MeteredAgent
    score_many: ScoreMany

    def header(self) -> dict[str, Any]:
        """Fields stamped on every record of the run."""
        return {
            "config_digest": self.conf.digest,
            "task": self.conf.task.name,
            "backend": self.conf.backend,
            "simulated": self.backend.simulated,
            "pool": str(self.conf.pool.get("name")),
            "models": list(self.space.model_names),
            "final_model": self.space.final_model,
            "agent": self.agent.name,
        }

    def searcher_label(self, uses_agent: bool) -> str:
        """``random``, or ``agent_reinforce[heuristic]`` for searchers that call an agent."""
        return f"{self.conf.searcher}[{self.agent.name}]" if uses_agent else self.conf.searcher

    def close(self) -> None:
        """Release the backend, then the agent's engine if it has one."""
        try:
            self.backend.close()
        finally:
            self.agent.close()


def build(conf: RunConfig, adapters: dict[Any, Any] | None = None) -> Session:
    """Compose a session; raises SuiteError subclasses for any bad name, value or file.

    Args:
        conf: The run's config.
        adapters: Optional memo of loaded tasks, keyed by task config and ``test_n``, for
            callers that run many cells in one process.
    """
    space = space_of(conf)
    task_prompts = prompts.load(conf.task.prompts)
    key = (conf.task, conf.test_n)
    if adapters is not None and key in adapters:
        task = adapters[key]
    else:
        task = TaskAdapter(conf.task, task_prompts, conf.test_n, progress=progress)
        if adapters is not None:
            adapters[key] = task
    backend_cls = registry.resolve("backend", conf.backend)
    env = BackendEnv(
        task=conf.task.name,
        pool=str(conf.pool.get("name")),
        space=space,
        prompts=task_prompts,
        answer_key=task.answer_key,
        pool_models=tuple(conf.pool.get("models") or ()),  # the pool reaches backends only here
    )
    options = dict(conf.backend_options)
    cache_options = options.pop("cache", None)  # the call cache wraps any backend
    backend: Backend = cache.wrap(backend_cls.create(options, env), cache_options)
    score_many: ScoreMany = task.score_many
    if isinstance(backend, cache.CachedBackend):
        record = backend.mode == "readwrite"
        score_many = RecordedScores(backend.cache, task.key, task.score_many, record)
    meter = Meter(conf.eval_budget)
    executor = Executor(backend, task_prompts, space.specs, meter, conf.task.name)
    agent = registry.resolve("agent", conf.agent).create(conf.agent_options, space)
    return Session(
        conf,
        space,
        task_prompts,
        task,
        backend,
        meter,
        executor,
        MeteredAgent(agent, meter),
        score_many,
    )
