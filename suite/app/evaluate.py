"""``python -m suite.evaluate graph=<file | single:MODEL>``: score a fixed graph on the test split.

Takes the same overrides as ``suite.run`` (task, backend, pool, budget, test_n, ...). ``graph``
is a graph JSON file, a run's final.json, or ``single:<model>`` (the single-model reference).
The result is written as JSON to ``out=<file>``, by default to
``<results_dir>/<task>/single/<backend>-<digest>-n<test_n>.json`` (where the leaderboard reads
single-model rows); the last line says where.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from suite import config
from suite.app import cli
from suite.core.errors import ConfigError
from suite.core.io import storage_error, write_atomic
from suite.engine import loop, session
from suite.engine.results import load_graph, provenance
from suite.leaderboard.load import SINGLE_DIR

USAGE = (
    "python -m suite.evaluate graph=<graph.json | final.json | single:MODEL> [task=... backend=...]"
)


def _split(args: Sequence[str]) -> tuple[str, str | None, list[str]]:
    graph, out, rest = None, None, []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "graph":
            graph = value
        elif key == "out":
            out = value
        else:
            rest.append(arg)
    if not graph:
        raise ConfigError(f"no graph given; usage: {USAGE}")
    return graph, out, rest


def run(args: Sequence[str]) -> dict[str, Any]:
    """Evaluate and print; returns the result record."""
    spec, out, overrides = _split(args)
    cli.check_overrides(overrides)
    graph = load_graph(spec)
    conf = config.load(cli.compose(overrides))
    sess = session.build(conf)
    try:
        sess.space.check(graph, allow_single=True)
        result = loop.evaluate(sess.executor, sess.score_many, graph, sess.task.test_docs, "test")
    finally:
        sess.close()
    lo, hi = result.ci95
    record = {
        "task": conf.task.name,
        "backend": conf.backend,
        "simulated": sess.backend.simulated,
        "graph": graph.to_dict(),
        "graph_digest": graph.digest,
        "graph_summary": graph.describe(),
        "test_accuracy": result.accuracy,
        "test_ci95": [lo, hi],
        "test_n": len(result.scores),
        "cost_flops": sess.space.flops(graph),
        "latency_s": result.latency_s,
        "task_info": sess.task.describe(),
    }
    label = conf.backend + (
        " (simulated LLMs, not real model scores)" if record["simulated"] else ""
    )
    rows = [
        ("backend", label),
        ("task", conf.task.name),
        ("graph", graph.describe()),
        (
            "test accuracy",
            f"{result.accuracy:.3f}  (95% CI {lo:.3f}-{hi:.3f}, n={len(result.scores)})",
        ),
        ("cost per question", f"{record['cost_flops']:.3e} FLOPs"),
        ("latency per question", f"{result.latency_s:.2f} s"),
    ]
    print(tabulate(rows, tablefmt="simple_outline"))
    path = Path(out) if out else _default_out(conf, graph.digest)
    _save(path, {**record, **provenance()})
    print(f"wrote {path}")
    return record


def _default_out(conf: Any, digest: str) -> Path:
    """``<results_dir>/<task>/single/<backend>-<digest>-n<test_n>.json``, the leaderboard's."""
    name = f"{conf.backend}-{digest}-n{conf.test_n}.json"
    return Path(str(conf.results_dir)) / str(conf.task.name) / SINGLE_DIR / name


def _save(path: Path, record: dict[str, Any]) -> None:
    """Write the record; a folder or unwritable place is one line naming ``out=``."""
    if path.is_dir():
        raise ConfigError(f"out={path} is a folder; pass out=<file>.json")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(path, exc, "pass out=<a writable file>") from exc
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    write_atomic(path, text, fix="pass out=<a writable file>")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = cli.arguments(argv, USAGE, __doc__)
    if args is None:
        return 0

    def body() -> int:
        run(args)
        return 0

    return cli.guarded(body)
