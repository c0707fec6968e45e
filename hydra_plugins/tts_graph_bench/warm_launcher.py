"""``hydra/launcher=warm``: sweep cells on long-lived worker processes (see suite.app.warm)."""

# No `from __future__ import annotations`: Hydra executes plugin modules before they are in
# sys.modules, where dataclasses cannot resolve string annotations.
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class WarmLauncherConf:
    """Options of the warm launcher (``hydra.launcher.<name>=...``)."""

    _target_: str = "hydra_plugins.tts_graph_bench.warm_launcher.WarmLauncher"
    n_jobs: int = -1  # worker processes; -1: one per CPU this process may use
    chunk: int = 0  # cells handed to a worker at once; 0: automatic (at most 16)


ConfigStore.instance().store(
    group="hydra/launcher", name="warm", node=WarmLauncherConf, provider="tts-graph-bench"
)


class WarmLauncher(Launcher):
    """Runs a sweep's jobs on ``n_jobs`` worker processes that stay up for the whole sweep.

    Call order (Hydra's): :meth:`setup` once, then :meth:`launch` per batch of jobs.
    """

    def __init__(self, n_jobs: int = -1, chunk: int = 0) -> None:
        self.n_jobs = n_jobs
        self.chunk = chunk
        self.context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Keep what every job needs: Hydra's context, the task function, the master config."""
        self.context = hydra_context
        self.task_function = task_function
        self.config = config

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Run the jobs on the workers; returns their results in job order."""
        from suite.app import warm  # the suite loads only when a sweep runs

        assert self.config is not None and self.context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        task: Any = self.task_function
        return warm.launch(
            self.context, task, self.config, job_overrides, initial_job_idx,
            self.n_jobs, self.chunk,
        )  # fmt: skip
