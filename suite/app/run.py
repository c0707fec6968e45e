"""``python -m suite.run``: one search (or a Hydra ``-m`` sweep of them), tested and recorded.

The composition root: the only module that sees Hydra's DictConfig. Each run writes
``results/<task>/<searcher>/<stamp>-s<seed>/`` with config.yaml, trials.jsonl and final.json.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from suite import config
from suite.app import cli
from suite.config import CONF_DIR, registry, schema
from suite.core.errors import StorageError, SuiteError, one_line
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
# Jobs that launchers run in other processes (joblib, submitit, SLURM) append their failures to
# this file, which _sweep() names per sweep; the sweep exits 2 if any job failed anywhere.
FAILURES_ENV = "TTSGB_SWEEP_FAILURES"


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
    conf = config.load(cfg_data)
    parent = run_dir.parent
    claim = results.claim_cell(parent, conf.seed, conf.digest) if multirun else None
    if multirun and claim is None:
        print(f"skipping cell {parent} (seed {conf.seed}): another sweep is running it", flush=True)
        _drop_if_empty(run_dir)
        return None
    try:
        if multirun and conf.resume != "false" and _completed(parent, conf):
            print(f"skipping completed cell {parent} (seed {conf.seed})", flush=True)
            _drop_if_empty(run_dir)
            return None
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
) -> dict[str, Any]:
    """The run of :func:`execute` once the cell is this process's: resume or start, then run."""
    parent = run_dir.parent
    sess = session.build(conf, adapters)
    found = (
        results.resumable_run(parent, conf.digest, conf.seed) if conf.resume != "false" else None
    )
    if found is not None and found != run_dir:
        _drop_if_empty(run_dir)
        run_dir = found
    store = results.ResultsStore(run_dir, sess.header())
    held = results.lock(run_dir)
    try:
        return _search_and_test(sess, conf, store, config_yaml, found is not None, quiet)
    finally:
        held.close()
        sess.close()


def _completed(parent: Path, conf: Any) -> bool:
    """True when the cell already has a completed run of this experiment."""
    runs = results.cell_runs(parent, conf.seed, conf.digest)
    return any(record.get("status") == "completed" for _, record in runs)


def _drop_if_empty(run_dir: Path) -> None:
    """Remove the folder Hydra made for this job when another folder is used instead."""
    if run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()


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
        kept = store.keep_trials(int(ckpt["trials"]))
        searcher.load_state(ckpt["searcher"])
        stream.load_state(ckpt["stream"])
        sess.meter.load_state(ckpt["meter"])
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

    In a sweep a failed cell is recorded instead and the other cells go on: in ``failures``,
    which the caller reads once Hydra returns, and in the file named by ``FAILURES_ENV`` when
    that is set (a launcher may run the job in another process, with its own copy of this).
    """

    failures: list[str] = field(default_factory=list)

    def __call__(self, cfg: Any) -> None:
        """Run the job Hydra composed ``cfg`` for."""
        # Hydra loads on use, so importing this module (for execute) stays light
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import OmegaConf

        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        data = OmegaConf.to_container(cfg, resolve=True)
        multirun = str(hc.mode) == "RunMode.MULTIRUN"
        try:
            execute(dict(data), OmegaConf.to_yaml(cfg, resolve=True), run_dir, multirun)  # type: ignore[arg-type]
        except SuiteError as exc:
            print(one_line(exc), file=sys.stderr, flush=True)
            if not multirun:
                sys.exit(exc.exit_code)
            _drop_if_empty(run_dir)  # a cell that failed before its first record leaves no folder
            cell = f"{run_dir.parent}/s{cfg.seed}: {one_line(exc).removeprefix('error: ')}"
            self.failures.append(cell)
            shared = os.environ.get(FAILURES_ENV)
            if shared:
                with open(shared, "a", encoding="utf-8") as fh:  # one short append per failed job
                    fh.write(cell.replace("\n", " ") + "\n")


def _hydra(job: _Job, args: Sequence[str]) -> None:
    """Run Hydra's command line on ``args`` with ``job`` as its task function.

    ``hydra.main`` parses the process's ``sys.argv`` and has no public way to take a list, so
    ``args`` go through ``sys.argv`` for this one call only; the old value is put back after,
    also when Hydra exits (``--help``, a failed single run).
    """
    import hydra  # heavy: loaded on use, so importing this module (for execute) stays light

    schema.register()  # the YAML files name their schemas, which Hydra finds in its ConfigStore
    wrapped = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(job)
    saved = sys.argv
    sys.argv = [saved[0], *args]
    try:
        wrapped()
    finally:
        sys.argv = saved


def _sweep(args: Sequence[str]) -> int:
    """Run a -m sweep; exit 2 with the list of failed cells if any job, in any process, failed.

    Jobs learn where to record a failure through ``hydra.job.env_set``, which every launcher
    applies in the job's own process (joblib and submitit workers, Ray tasks on any node).
    """
    results_dir = cli.results_dir_of(split_argv(args))
    results_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".sweep-failures-", suffix=".log", dir=results_dir)
    os.close(fd)
    path = Path(name).resolve()
    job = _Job()
    try:
        _hydra(job, [*args, f"++hydra.job.env_set.{FAILURES_ENV}='{path}'"])
        lines = path.read_text(encoding="utf-8").splitlines()
    finally:
        os.environ.pop(FAILURES_ENV, None)
        path.unlink(missing_ok=True)
    failed = sorted(set(lines) | set(job.failures))
    if failed:
        print(
            f"error: {len(failed)} cell(s) of the sweep failed: {'; '.join(failed)}; fix the "
            "cause and rerun the same command (completed cells are skipped)",
            file=sys.stderr,
        )
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: check overrides and the results folder, then hand over to Hydra."""
    args = list(sys.argv[1:] if argv is None else argv)
    cli.quiet_environment()

    def body() -> int:
        cli.preflight(split_argv(args))
        if any(a in ("-m", "--multirun") or a.startswith("hydra.mode=MULTI") for a in args):
            return _sweep(args)
        job = _Job()  # a preset may still make this a multirun: its failures land here
        _hydra(job, args)
        return 2 if job.failures else 0

    return cli.guarded(body)
