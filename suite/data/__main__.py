"""``python -m suite.data``: build and list the data sets in the cache."""

from __future__ import annotations

import argparse
import sys

from suite.core.errors import SuiteError, one_line
from suite.data.cache import BUILDERS, builder_of, prepare, status


def main(argv: list[str] | None = None) -> int:
    """Run the ``python -m suite.data`` command line; return the exit code.

    ``prepare`` builds every named set it can and prints one line per set; a set that cannot
    be built prints one ``error:`` line, and the exit code is then 2.
    """
    about = "Build data sets once into $TTSGB_CACHE_DIR/data (else ~/.cache/tts-graph-bench/data)."
    parser = argparse.ArgumentParser(prog="python -m suite.data", description=about)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="build data sets into the cache (once)")
    prep.add_argument("names", nargs="+", metavar="NAME", help=f"one of: {', '.join(BUILDERS)}")
    prep.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    commands.add_parser("list", help="list the data sets and whether each is prepared")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name in BUILDERS:
            print(status(name))
        return 0
    try:
        for name in args.names:
            builder_of(name)  # reject a typo before any download
    except SuiteError as exc:
        print(one_line(exc), file=sys.stderr)
        return exc.exit_code
    code = 0
    for name in dict.fromkeys(args.names):
        try:
            info = prepare(name, force=args.force, progress=lambda m: print(m, file=sys.stderr))
        except SuiteError as exc:
            print(one_line(exc), file=sys.stderr, flush=True)
            code = exc.exit_code
            continue
        print(f"{info.name}: {info.n_rows} rows, source: {info.source}, path: {info.path}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
