"""``python -m suite.run``: one search (or a Hydra ``-m`` sweep of them), tested and recorded.

The composition root: the only module that sees Hydra's DictConfig. Each run writes
``results/<task>/<searcher>/<stamp>-s<seed>/`` with config.yaml, trials.jsonl and final.json.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from suite import config
from suite.app import cli, sweep, sweep_setup
from suite.config import CONF_DIR, registry, schema
from suite.core.errors import ConfigError, StorageError, SuiteError, one_line
from suite.core.io import cache_dir
from suite.engine import loop, pilot, results, session
from suite.engine.summary import final_record, pilot_fields, print_summary, progress_bar
from suite.search.searcher import SearchContext

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
class CellOutcome:
    """What :func:`run_cell` did: ``completed``, ``skipped`` (done before) or ``busy``.

    ``where`` is the run folder (the completed one when skipped); ``record`` the final record
    of a run that completed now.
    """

    status: str
    where: Path | None = None
    record: dict[str, Any] | None = None


def execute(
    cfg_data: dict[str, Any],
    config_yaml: str,
    run_dir: Path,
    multirun: bool = False,
    quiet: bool = False,
    adapters: dict[Any, Any] | None = None,
) -> dict[str, Any] | None:
    """Run one search and its test evaluation; returns the final record.

    With ``resume=auto`` (default) an unfinished run of the same experiment (same config
    digest) continues in its own folder from its last checkpoint; in a sweep, completed cells
    are skipped (None is returned). Failures are recorded as ``status: failed`` (or
    ``interrupted``) before re-raising. ``quiet`` drops the progress bar and summary;
    ``adapters`` lets a caller running many cells reuse loaded tasks.
    """
    outcome = run_cell(cfg_data, config_yaml, run_dir, multirun, quiet, adapters)
    if outcome.status == "busy" and not quiet:
        print(f"skipping cell {run_dir.parent}: another sweep is running it", flush=True)
    elif outcome.status == "skipped" and multirun and not quiet:
        print(f"skipping completed cell {outcome.where}", flush=True)
    elif outcome.status == "skipped" and not multirun:  # a finished run is not repeated by accident
        _note_completed(outcome.where)
    return outcome.record


def _note_completed(where: Path | None) -> None:
    """Say that a single run is already done, and how to start it anew."""
    print(
        f"run already completed: {where}; pass resume=false to start a new run",
        file=sys.stderr,
        flush=True,
    )


def run_cell(
    cfg_data: dict[str, Any],
    config_yaml: str,
    run_dir: Path,
    multirun: bool = False,
    quiet: bool = False,
    adapters: dict[Any, Any] | None = None,
) -> CellOutcome:
    """:func:`execute`, saying what happened instead of printing it (for sweeps)."""
    conf = config.load(cfg_data)
    parent = run_dir.parent
    claim = results.claim_cell(parent, conf.seed, conf.digest) if multirun else None
    if multirun and claim is None:
        results.drop_if_empty(run_dir)
        return CellOutcome("busy")
    try:
        done = (
            results.completed_run(parent, conf.seed, conf.digest)
            if conf.resume != "false"
            else None
        )
        if done is not None:
            results.drop_if_empty(run_dir)
            return CellOutcome("skipped", done)
        return _claimed(conf, run_dir, config_yaml, quiet, adapters)
    finally:
        if claim is not None:
            claim.close()


def _claimed(
    conf: Any,
    run_dir: Path,
    config_yaml: str,
    quiet: bool,
    adapters: dict[Any, Any] | None,
) -> CellOutcome:
    """The run of :func:`execute` once the cell is this process's: resume or start, then run.

    A damaged unfinished run (see :func:`results.damage`) is set aside with all its files and
    the run starts anew in ``run_dir``, saying so in one line.
    """
    found = None
    if conf.resume != "false":
        found = results.resumable_run(run_dir.parent, conf.digest, conf.seed)
    if found is not None and found != run_dir:
        why = results.damage(found)
        if why is not None:
            _restart_note(found, why, run_dir)
            found = None
        else:
            results.drop_if_empty(run_dir)
    try:
        folder = found or run_dir
        record = _locked(conf, folder, config_yaml, found is not None, quiet, adapters)
    except _DamagedError as exc:
        assert found is not None  # only a resume reads a checkpoint
        _restart_note(found, str(exc), run_dir)
        folder = run_dir
        record = _locked(conf, run_dir, config_yaml, False, quiet, adapters)
    return CellOutcome("completed", folder, record)


class _DamagedError(Exception):
    """A checkpoint that passed :func:`results.damage` but does not fit this searcher."""


def _restart_note(found: Path, why: str, run_dir: Path) -> None:
    """Set a damaged run folder aside and say so in one line."""
    results.set_aside(found, why, run_dir)
    print(
        f"run folder {found} is damaged ({why}); its files are kept and the run starts anew "
        f"in {run_dir}",
        file=sys.stderr,
        flush=True,
    )


def _locked(
    conf: Any,
    run_dir: Path,
    config_yaml: str,
    resuming: bool,
    quiet: bool,
    adapters: dict[Any, Any] | None,
) -> dict[str, Any]:
    """Build the session, lock the run folder and run in it."""
    sess = session.build(conf, adapters)
    try:
        n_search = len(sess.task.search_docs)
        if conf.batch_size > n_search:  # it would evaluate the same questions within one batch
            raise ConfigError(
                f"batch_size={conf.batch_size} is larger than the search split of "
                f"{conf.task.name} ({n_search} questions); pass batch_size<={n_search}"
            )
        store = results.ResultsStore(run_dir, sess.header())
        held = results.lock(run_dir)
        try:
            store.drop_stale_temporaries()
            return _search_and_test(sess, conf, store, config_yaml, resuming, quiet)
        finally:
            held.close()
    finally:
        sess.close()


def _search_and_test(
    sess: Any, conf: Any, store: Any, config_yaml: str, resuming: bool, quiet: bool
) -> dict[str, Any]:
    searcher_rng, stream_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(conf.seed).spawn(2)
    )
    searcher = registry.resolve("searcher", conf.searcher)(**conf.searcher_options)
    # The pilot is a task-level study outside the search budget, cached and shared by runs.
    study = pilot.ensure(sess, conf, session.progress) if searcher.needs_pilot else None
    searcher.setup(
        SearchContext(
            sess.space,
            searcher_rng,
            conf.n_iterations,
            conf.batch_size,
            conf.eval_budget,
            agent=sess.agent,
            pilot=study[0].for_searcher() if study else None,
        )
    )
    stream = loop.DocStream(sess.task.search_docs, stream_rng)
    best = -1.0
    ckpt = store.read_checkpoint() if resuming else None
    if ckpt is not None:
        try:
            searcher.load_state(ckpt["searcher"])
            stream.load_state(ckpt["stream"])
            sess.meter.load_state(ckpt["meter"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise _DamagedError(f"checkpoint.json does not fit ({type(exc).__name__})") from exc
        kept = store.keep_trials(int(ckpt["trials"]))
        best = max((float(t["reward"]) for t in kept), default=-1.0)
        done = sess.meter.tally("search").question_evals
        print(
            f"resuming {store.run_dir} after {done}/{conf.eval_budget} question evaluations",
            file=sys.stderr,
            flush=True,
        )
    else:
        store.keep_trials(0)
        store.start(config_yaml)
    n_trials = [sess.meter.tally("search").graph_evals]

    def checkpoint() -> None:
        n_trials[0] += 1
        store.checkpoint(
            {
                "trials": n_trials[0],
                "searcher": searcher.state(),
                "stream": stream.state(),
                "meter": sess.meter.as_dict(),
            }
        )

    label = sess.searcher_label(searcher.uses_agent)
    try:
        done = sess.meter.tally("search").question_evals
        with progress_bar(conf, label, done, disable=quiet) as bar:
            totals = loop.search(
                searcher,
                sess.space,
                sess.executor,
                sess.task.score_many,
                stream,
                sess.meter,
                store,
                on_step=bar.step,
                checkpoint=checkpoint,
                best=best,
            )
        graph = searcher.recommend()
        sess.space.check(graph)
        test = loop.evaluate(
            sess.executor, sess.task.score_many, graph, sess.task.test_docs, "test"
        )
        record = final_record(sess, conf, graph, test, totals, label)
        record.update(pilot_fields(conf, study))
        record.update(results.provenance())
        store.finish(record)
        if not quiet:
            print_summary(record, store.run_dir)
        return record
    except KeyboardInterrupt:
        _record_stop(store, "interrupted", "interrupted by the user; rerun to resume")
        raise
    except Exception as exc:
        _record_stop(store, "failed", f"{type(exc).__name__}: {exc}")
        raise


def _record_stop(store: Any, status: str, reason: str) -> None:
    """Mark the run stopped; if even that cannot be written, the original error still wins."""
    with contextlib.suppress(StorageError):
        store.finish({"status": status, "reason": reason})


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
        if not multirun:
            try:
                outcome = self._run(cfg, run_dir, False)
                if outcome.status == "skipped":  # a finished run is not repeated by accident
                    _note_completed(outcome.where)
            except SuiteError as exc:
                print(one_line(exc), file=sys.stderr, flush=True)
                sys.exit(exc.exit_code)
            finally:
                results.drop_if_unused(run_dir)  # stopped before its first record: no folder
            return None
        return self._cell(cfg, run_dir, list(hc.overrides.task))

    def _run(self, cfg: Any, run_dir: Path, multirun: bool) -> CellOutcome:
        from omegaconf import OmegaConf

        data = OmegaConf.to_container(cfg, resolve=True)
        try:
            return run_cell(
                dict(data),  # type: ignore[arg-type]
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
            outcome = self._run(cfg, run_dir, True)
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
        raise ConfigError(" ".join(str(exc).split())) from exc
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
        cli.preflight(split_argv(args))
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
