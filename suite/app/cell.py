"""One run of one cell: claim it, lock its folder, resume or start it, search, test, record.

:func:`run_cell` is what ``python -m suite.run`` runs for a single run and for every sweep
cell (any launcher, any process), and :func:`execute` is its entry for callers outside Hydra
(``suite.regress``, tests). Each run writes ``results/<task>/<searcher>/<stamp>-s<seed>/``
with config.yaml, trials.jsonl, checkpoint.json and final.json.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite import config
from suite.config import registry
from suite.core.errors import ConfigError, StorageError
from suite.engine import loop, pilot, results, session
from suite.engine.summary import final_record, pilot_fields, print_summary, progress_bar
from suite.search.searcher import SearchContext


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
        note_completed(outcome.where)
    return outcome.record


def note_completed(where: Path | None) -> None:
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
                sess.score_many,
                stream,
                sess.meter,
                store,
                on_step=bar.step,
                checkpoint=checkpoint,
                best=best,
            )
        graph = searcher.recommend()
        sess.space.check(graph)
        test = loop.evaluate(sess.executor, sess.score_many, graph, sess.task.test_docs, "test")
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
