"""``python -m suite.leaderboard singles RESULTS --task T``: the single-model reference rows.

Runs ``suite.app.evaluate graph=single:<model>`` for every model of the pool and writes each result
to ``RESULTS/<task>/single/<backend>-<pool>-<model>.json``, where the leaderboard reads it.
Extra ``key=value`` arguments go to suite.app.evaluate (e.g. ``test_n=100 backend.world_seed=0``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import yaml

from suite.app import cli, evaluate
from suite.config import CONF_DIR
from suite.core.errors import ConfigError


def single_path(results: Path, task: str, backend: str, pool: str, model: str) -> Path:
    """Where one single-model result lives."""
    return results / task / "single" / f"{backend}-{pool}-{model}.json"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (called by ``python -m suite.leaderboard singles``)."""
    parser = argparse.ArgumentParser(
        prog="python -m suite.leaderboard singles",
        description="Score every model of a pool alone on a task's test split (suite.evaluate) "
        "and write RESULTS/<task>/single/<backend>-<pool>-<model>.json, the single-model "
        "reference rows of the leaderboard.",
    )
    parser.add_argument("results", type=Path, help="the results folder the leaderboard reads")
    parser.add_argument("--task", required=True, help="task name, e.g. mmlu (required)")
    parser.add_argument("--backend", default="sim", help="backend name (default: sim)")
    parser.add_argument("--pool", default="llama3", help="model pool name (default: llama3)")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="more key=value overrides for suite.evaluate, e.g. test_n=100 (default: none)",
    )
    args = parser.parse_intermixed_args(argv)  # key=value may follow --task

    def body() -> int:
        path = CONF_DIR / "pool" / f"{args.pool}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown pool '{args.pool}'; see suite/conf/pool/")
        pool = yaml.safe_load(path.read_text(encoding="utf-8"))
        for model in (str(m["name"]) for m in pool["models"]):
            out = single_path(args.results, args.task, args.backend, args.pool, model)
            out.parent.mkdir(parents=True, exist_ok=True)
            evaluate.run(
                [
                    f"graph=single:{model}",
                    f"task={args.task}",
                    f"backend={args.backend}",
                    f"pool={args.pool}",
                    *args.overrides,
                    f"out={out}",
                ]
            )
            print(out, flush=True)
        return 0

    return cli.guarded(body)
