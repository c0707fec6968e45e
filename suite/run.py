"""``python -m suite.run``: one search (or a Hydra ``-m`` sweep of them), tested and recorded.

The composition root: the only module that sees Hydra's DictConfig. Each run writes
``results/<task>/<searcher>/<stamp>-s<seed>/`` with config.yaml, trials.jsonl and final.json.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from suite import cli

_FLAGS_WITH_VALUE = {
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
_failures: list[str] = []  # jobs of a -m sweep that failed; main() exits 2 if any did


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


def execute(cfg_data: dict[str, Any], config_yaml: str, run_dir: Path) -> dict[str, Any]:
    """Run one search and its test evaluation; returns the final record.

    Failures are recorded as ``status: failed`` (or ``interrupted``) before re-raising.
    """
    from suite import config, loop, registry, session
    from suite.results import ResultsStore
    from suite.searcher import SearchContext
    from suite.summary import final_record, print_summary, progress_bar

    conf = config.load(cfg_data)
    sess = session.build(conf)
    store = ResultsStore(run_dir, sess.header())
    store.start(config_yaml)
    try:
        searcher_rng, stream_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(conf.seed).spawn(2)
        )
        searcher = registry.resolve("searcher", conf.searcher)(**conf.searcher_options)
        searcher.setup(
            SearchContext(
                sess.space,
                searcher_rng,
                conf.n_iterations,
                conf.batch_size,
                conf.eval_budget,
                agent=sess.agent,
            )
        )
        label = sess.searcher_label(searcher.uses_agent)
        stream = loop.DocStream(sess.task.search_docs, stream_rng)
        with progress_bar(conf, label) as bar:
            totals = loop.search(
                searcher,
                sess.space,
                sess.executor,
                sess.task.score_many,
                stream,
                sess.meter,
                store,
                on_step=bar.step,
            )
        graph = searcher.recommend()
        sess.space.check(graph)
        test = loop.evaluate(
            sess.executor, sess.task.score_many, graph, sess.task.test_docs, "test"
        )
        record = final_record(sess, conf, graph, test, totals, label)
        store.finish(record)
        print_summary(record, run_dir)
        return record
    except KeyboardInterrupt:
        store.finish({"status": "interrupted", "reason": "interrupted by the user"})
        raise
    except Exception as exc:
        store.finish({"status": "failed", "reason": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        sess.close()


def _job(cfg: Any) -> None:
    """Hydra's task function: one run; SuiteErrors end a single run with exit code 2."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from suite.errors import SuiteError, one_line

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    data = OmegaConf.to_container(cfg, resolve=True)
    try:
        execute(dict(data), OmegaConf.to_yaml(cfg, resolve=True), run_dir)  # type: ignore[arg-type]
    except SuiteError as exc:
        print(one_line(exc), file=sys.stderr, flush=True)
        if str(hc.mode) != "RunMode.MULTIRUN":
            sys.exit(exc.exit_code)
        _failures.append(str(run_dir))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: check overrides and the results folder, then hand over to Hydra."""
    args = list(sys.argv[1:] if argv is None else argv)
    cli.quiet_environment()

    def body() -> int:
        cli.preflight(split_argv(args))
        import hydra

        from suite.config import CONF_DIR

        wrapped = hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(
            _job
        )
        sys.argv = [sys.argv[0], *args]
        wrapped()
        return 2 if _failures else 0

    return cli.guarded(body)


if __name__ == "__main__":
    sys.exit(main())
