"""``python -m suite.run``: one search (or a Hydra ``-m`` sweep of them), tested and recorded.

The composition root: the only module that sees Hydra's DictConfig. Each run writes
``results/<task>/<searcher>/<stamp>-s<seed>/`` with config.yaml, trials.jsonl and final.json.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.app import cli, sweep, sweep_setup
from suite.app.cell import CellOutcome, note_completed, run_cell
from suite.config import CONF_DIR, schema
from suite.core.errors import StorageError, SuiteError, one_line
from suite.core.io import cache_dir
from suite.engine import results

_FLAGS_WITH_VALUE = frozenset(
    {
        "--cfg",
        "-c",
        "--package",
        "-p",
        "--config-path",
        "-cp",
        "--config-name",
        "-cn",
        "--config-dir",
        "-cd",
        "--experimental-rerun",
        "--shell-completion",
        "-sc",
        "--info",
    }
)


def split_argv(argv: Sequence[str]) -> list[str]:
    """The ``key=value`` overrides among Hydra's command-line arguments."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _FLAGS_WITH_VALUE
        else:
            out.append(arg)
    return out


@dataclass(frozen=True)
class _Job:
    """Hydra's task function: one run; SuiteErrors end a single run with exit code 2.

    In a sweep (any launcher, any process) each cell runs quietly and appends one line to the
    sweep's ledger (:mod:`suite.app.sweep`), which the parent prints as ``cell k/N``; a failed
    cell is recorded there and in ``failures`` (read once Hydra returns) and the other cells go
    on. Loaded tasks are kept per process (:data:`sweep.TASKS`), so a worker fed many cells
    loads each task once.
    """

    failures: list[str] = field(default_factory=list)

    def __call__(self, cfg: Any) -> CellOutcome | None:
        """Run the job Hydra composed ``cfg`` for."""
        # Hydra loads on use, so importing this module (for execute) stays light
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        multirun = str(hc.mode) == "RunMode.MULTIRUN"
        # the folder Hydra made is created again when the run writes its first file, so a run
        # killed (even by kill -9) or failing while it starts up leaves no empty folder behind
        results.drop_if_empty(run_dir)
        overrides = list(hc.overrides.task)
        if not multirun:
            try:
                outcome = self._run(cfg, run_dir, False, overrides)
                if outcome.status == "skipped":  # a finished run is not repeated by accident
                    note_completed(outcome.where)
            except SuiteError as exc:
                print(one_line(exc), file=sys.stderr, flush=True)
                sys.exit(exc.exit_code)
            finally:
                results.drop_if_unused(run_dir)  # stopped before its first record: no folder
            return None
        return self._cell(cfg, run_dir, overrides)

    def _run(self, cfg: Any, run_dir: Path, multirun: bool, overrides: list[str]) -> CellOutcome:
        from omegaconf import OmegaConf

        data = cli.resolved(cfg, overrides)  # Hydra composed it: check it as preflight would
        try:
            return run_cell(
                data,
                OmegaConf.to_yaml(cfg, resolve=True),
                run_dir,
                multirun,
                quiet=multirun,
                adapters=sweep.TASKS if multirun else None,
            )
        except BrokenPipeError:
            raise  # stdout's reader stopped early (| head): cli.guarded ends it quietly
        except OSError as exc:  # a folder the overrides name that cannot be made or used
            raise _os_error(exc) from exc

    def _cell(self, cfg: Any, run_dir: Path, overrides: list[str]) -> CellOutcome | None:
        """One sweep cell: run it, then record what happened in the ledger."""
        started, cpu = time.perf_counter(), time.process_time()

        def report(status: str, where: Path | None, error: str | None = None) -> None:
            seconds = time.perf_counter() - started
            ledger = os.environ.get(sweep.LEDGER_ENV)
            extra = {**sweep.TASKS.counters(), "cpu_s": round(time.process_time() - cpu, 3)}
            sweep.record(ledger, overrides, status, where=where, error=error, seconds=seconds,
                         extra=extra)  # fmt: skip

        try:
            outcome = self._run(cfg, run_dir, True, overrides)
        except Exception as exc:
            why = one_line(exc).removeprefix("error: ")
            if not isinstance(exc, SuiteError):  # a bug, not a user error: show where
                traceback.print_exc()
                why = f"{type(exc).__name__}: {why}"
            self.failures.append(f"{run_dir.parent}/s{cfg.seed}: {why}")
            report("failed", run_dir if (run_dir / "final.json").exists() else None, why)
            return None
        finally:
            results.drop_if_unused(run_dir)  # a run stopped before its first record: no folder
        report(outcome.status, outcome.where)
        return CellOutcome(outcome.status, outcome.where)  # the record stays in this process


def _hydra(job: _Job, args: Sequence[str]) -> None:
    """Run Hydra's command line on ``args`` with ``job`` as its task function.

    ``hydra.main`` parses the process's ``sys.argv`` and has no public way to take a list, so
    ``args`` go through ``sys.argv`` for this one call only; the old value is put back after,
    also when Hydra exits (``--help``, a failed single run).

    Hydra would print a stack trace and exit 1 for errors it meets (a run folder it cannot
    make, an interpolation that does not resolve, a sweep without ``-m``); with
    ``HYDRA_FULL_ERROR`` set it raises them instead, and they become one line and exit 2.

    Raises:
        ConfigError: Hydra or OmegaConf refused the configuration.
        StorageError: a file or folder could not be made or opened.
    """
    import hydra  # heavy: loaded on use, so importing this module (for execute) stays light
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    schema.register()  # the YAML files name their schemas, which Hydra finds in its ConfigStore
    wrapped = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(job)
    saved, full_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = [saved[0], *args]
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        wrapped()
    except (HydraException, OmegaConfBaseException) as exc:
        raise cli.config_error(exc, split_argv(args)) from exc
    except BrokenPipeError:
        raise  # stdout's reader stopped early (--help | head): cli.guarded ends it quietly
    except OSError as exc:
        raise _os_error(exc) from exc
    finally:
        sys.argv = saved
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error


def _os_error(exc: OSError) -> StorageError:
    """One line for a file or folder the command's settings name that cannot be made or used."""
    return StorageError(
        f"cannot use {exc.filename} ({exc.strerror or exc}); check the folders and names the "
        "settings give (results_dir, seed, TTSGB_CACHE_DIR, searcher.storage)"
    )


def _check_cache_dir() -> None:
    """Make the cache folder now, so a bad ``TTSGB_CACHE_DIR`` is one line before any work."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cache folder {folder} cannot be made ({exc.strerror or exc}); "
            "set TTSGB_CACHE_DIR to a writable folder"
        ) from exc


def _sweep(args: Sequence[str]) -> int:
    """Run a -m sweep (see :func:`sweep.run_sweep`) with :class:`_Job` as Hydra's task."""
    job = _Job()
    return sweep.run_sweep(args, cli.results_dir_of(split_argv(args)), lambda a: _hydra(job, a))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: check overrides and the results folder, then hand over to Hydra."""
    args = list(sys.argv[1:] if argv is None else argv)
    cli.quiet_environment()

    def body() -> int:
        nonlocal args
        signal.signal(signal.SIGTERM, _terminated)
        sweep_setup.check_run_folders(split_argv(args))
        multirun = any(a in ("-m", "--multirun") or a.startswith("hydra.mode=MULTI") for a in args)
        if multirun:
            args = [*args, *sweep_setup.sweep_defaults(split_argv(args))]
        cli.preflight(split_argv(args), compose_cases=multirun)
        if not any(a in ("--help", "-h", "--cfg", "-c", "--info") for a in args):
            _check_cache_dir()
        if multirun:
            return _sweep(args)
        job = _Job()  # a preset may still make this a multirun: its failures land here
        _hydra(job, args)
        return 2 if job.failures else 0

    previous = signal.getsignal(signal.SIGTERM)
    try:
        return cli.guarded(body)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM (SLURM, CI cancellation, ``timeout``) stops a run as Ctrl-C does: resumable."""
    raise KeyboardInterrupt
