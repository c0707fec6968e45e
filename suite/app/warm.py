"""The warm launcher's work: long-lived worker processes fed many sweep cells each.

:func:`launch` is what ``hydra/launcher=warm`` (``+experiment/launcher=warm``) runs in the
parent. Workers start once (imports, Hydra's context), compose their cells' configs with
:class:`SweepComposer` (Hydra's own composition once per family of cells, then only the
changed values) and run each cell through Hydra's ``run_job``, as the basic launcher does, so
run folders and their contents are the same. Loaded tasks stay warm between cells
(``suite.app.sweep.TASKS``). The parent prints nothing itself: cells report to the sweep ledger.
"""

from __future__ import annotations

import copy
import os
import pickle
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, wait
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from hydra.errors import HydraException

# loky (joblib's process pool, a dependency of the joblib launcher) pickles with cloudpickle,
# which Hydra's singletons need (its resolvers are closures), as the joblib launcher does.
from joblib.externals.loky.process_executor import (  # type: ignore[import-untyped]
    BrokenProcessPool,
    ProcessPoolExecutor,
)
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from suite.app import sweep
from suite.core.errors import SuiteError, one_line

_FAMILIES_KEPT = 4  # composed family configs a worker keeps (cells arrive family by family)
_CHUNK_MAX = 16  # cells per dispatch at most: long enough to amortise, short for the tail
_WAIT_S = 0.5  # the parent's longest wait for results before it looks at signals again
_PARENT_POLL_S = 1.0  # how often a worker checks that the sweep's process is still there
_PARENT_GONE_GRACE_S = 10.0  # time its interrupted cell gets to record itself


class SweepComposer:
    """A sweep job's config, the same as Hydra's ``load_sweep_config`` gives, but cheap.

    Jobs whose overrides differ only in plain values (``seed=3``, ``searcher.lr=0.1``) form a
    family: its config is composed once by Hydra (the defaults tree, group files, schemas),
    and each job's config is a copy with its values applied by Hydra's own override step and
    its ``hydra.overrides.task`` and ``override_dirname`` rewritten. Group choices (``task=``,
    ``+experiment=``), appends, deletions, ``hydra.*`` and non-scalar values stay part of the
    family key, so they always go through a full composition.

    Args:
        loader: Hydra's config loader (from the hydra context).
        master: The sweep's master config (its hydra overrides and resolver cache are used).
    """

    def __init__(self, loader: Any, master: DictConfig) -> None:
        self.loader = loader
        self.master = master
        self.parser = OverridesParser.create()
        self.families: OrderedDict[tuple[str, ...], DictConfig] = OrderedDict()
        self.full_composes = 0

    def __call__(self, overrides: Sequence[str]) -> DictConfig:
        """The job's config (a fresh object the caller may change)."""
        parsed = self.parser.parse_overrides(list(overrides))
        cheap = [ov for ov in parsed if self._cheap(ov)]
        keys = [ov.key_or_group for ov in cheap]
        if len(set(keys)) < len(keys):  # one key set twice: let Hydra apply them in order
            cheap, keys = [], []
        family = tuple(
            f"{ov.key_or_group}=<value>" if ov in cheap else str(ov.input_line) for ov in parsed
        )
        base = self.families.get(family)
        if base is None:
            base = self.loader.load_sweep_config(self.master, list(overrides))
            self.full_composes += 1
            self.families[family] = base
            while len(self.families) > _FAMILIES_KEPT:
                self.families.popitem(last=False)
        else:
            self.families.move_to_end(family)
        cfg = copy.deepcopy(base)
        ConfigLoaderImpl._apply_overrides_to_config(cheap, cfg)
        app = [ov for ov in parsed if not ov.is_hydra_override()]
        dirname = cfg.hydra.job.config.override_dirname
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [ov.input_line for ov in app]
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=app,
                kv_sep=dirname.kv_sep,
                item_sep=dirname.item_sep,
                exclude_keys=list(dirname.exclude_keys),
            )
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        return cfg

    def _cheap(self, ov: Override) -> bool:
        """A plain ``key=scalar`` override of a value (not a group, not Hydra's own)."""
        if ov.is_sweep_override() or ov.is_hydra_override() or ov.package is not None:
            return False
        if ov.type is not OverrideType.CHANGE or "/" in ov.key_or_group:
            return False
        if self.loader.repository.group_exists(ov.key_or_group):
            return False
        value = ov.value()
        return value is None or isinstance(value, bool | int | float | str)


# One worker's long-lived state, set by _start_worker in that process only.
_WORKER: dict[str, Any] = {}


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM (from the parent) or Ctrl-C: stop the cell and those not started yet.

    The running cell records ``interrupted`` (resumable); cells handed to this worker but not
    started are not started.
    """
    _WORKER["stopping"] = True
    raise KeyboardInterrupt


def _watch_parent(parent: int) -> None:
    """End this worker once the sweep's process is gone (kill -9).

    Its running cell stops as Ctrl-C stops it (``interrupted``, resumable), it starts no other,
    and the process exits instead of idling forever.
    """
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(_PARENT_GONE_GRACE_S)
    os._exit(1)


def _start_worker(
    context: Any, master: DictConfig, task_function: Any, singleton_state: Any, parent: int
) -> None:
    """Worker start-up, once per process: Hydra's globals, its singletons, the composer.

    ``parent`` is the sweep's process id, taken there: one that died while this worker was
    starting is noticed too.
    """
    setup_globals()
    Singleton.set_state(singleton_state)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _WORKER.update(
        context=context,
        master=master,
        task=task_function,
        composer=SweepComposer(context.config_loader, master),
        ledger=str(master.hydra.job.env_set.get(sweep.LEDGER_ENV, "")) or None,
    )


def _run_chunk(jobs: Sequence[tuple[int, list[str]]]) -> list[tuple[int, JobReturn]]:
    """Run consecutive cells in this worker; a Ctrl-C stops the chunk, not just one cell."""
    out = []
    for idx, overrides in jobs:
        if _WORKER.get("stopping"):  # interrupted, or the sweep is gone: start nothing more
            raise KeyboardInterrupt
        out.append((idx, _run_one(idx, overrides)))
    return out


def _run_one(idx: int, overrides: list[str]) -> JobReturn:
    """Compose one cell and run it through Hydra's ``run_job`` (as the basic launcher does)."""
    try:
        cfg = _WORKER["composer"](overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        # the sweeper checked one job per swept value; a combination can still fail here
        why = " ".join(str(exc).split())
        sweep.record(_WORKER["ledger"], overrides, "failed", error=f"config: {why}")
        return JobReturn(overrides=overrides, status=JobStatus.COMPLETED)
    with open_dict(cfg):
        cfg.hydra.job.id = idx
        cfg.hydra.job.num = idx
    ret = run_job(
        hydra_context=_WORKER["context"],
        task_function=_WORKER["task"],
        config=cfg,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    value = ret._return_value
    if ret.status is JobStatus.FAILED and not _picklable(value):
        value = RuntimeError(one_line(value))
    # the configs stay here: the parent needs only the outcome
    return JobReturn(
        overrides=ret.overrides,
        working_dir=ret.working_dir,
        task_name=ret.task_name,
        status=ret.status,
        _return_value=value,
    )


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def workers_for(n_jobs: int, n_cells: int) -> int:
    """Worker processes to start: ``n_jobs`` (-1: one per usable CPU), at most one per cell."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = (cpus or 1) if n_jobs <= 0 else n_jobs
    return max(1, min(wanted, n_cells))


def chunks(
    jobs: Sequence[Sequence[str]], first_idx: int, workers: int, size: int
) -> list[list[tuple[int, list[str]]]]:
    """Consecutive slices of the jobs (Hydra lists a family's cells together)."""
    if size <= 0:
        size = max(1, min(_CHUNK_MAX, len(jobs) // (4 * workers)))
    numbered = [(first_idx + k, list(ov)) for k, ov in enumerate(jobs)]
    return [numbered[i : i + size] for i in range(0, len(numbered), size)]


def launch(
    context: Any,
    task_function: Any,
    master: DictConfig,
    jobs: Sequence[Sequence[str]],
    first_idx: int,
    n_jobs: int,
    chunk: int,
) -> list[JobReturn]:
    """Run every job on warm workers; returns Hydra's job returns in job order.

    Ctrl-C reaches the workers too (same process group); SIGTERM to the parent is passed on
    to them, so every running cell records ``interrupted`` and resumes on the next run.
    """
    workers = workers_for(n_jobs, len(jobs))
    parts = chunks(jobs, first_idx, workers, chunk)
    out: list[JobReturn | None] = [None] * len(jobs)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        initializer=_start_worker,
        initargs=(context, master, task_function, Singleton.get_state(), os.getpid()),
    )
    try:
        pending = {pool.submit(_run_chunk, part) for part in parts}
        while pending:
            # with a timeout, so SIGTERM's handler runs at once rather than at the next result
            done, pending = wait(pending, timeout=_WAIT_S, return_when=FIRST_EXCEPTION)
            for fut in done:
                try:
                    rets = fut.result()
                except BrokenProcessPool as exc:  # killed (out of memory, kill -9)
                    raise SuiteError(
                        f"a sweep worker process died ({one_line(exc).removeprefix('error: ')}); "
                        "rerun the same command to run the cells left (completed ones are "
                        "skipped), or pass hydra.launcher.n_jobs=1 if memory is short"
                    ) from exc
                for idx, ret in rets:
                    out[idx - first_idx] = ret
    except BaseException:
        # The pool has no public way to stop running work gently; its worker processes are in
        # _processes. They turn SIGTERM into an interrupted, resumable run.
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc.is_alive():
                proc.terminate()
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)
    return [r for r in out if r is not None]
