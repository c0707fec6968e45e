"""``python -m suite.leaderboard [RESULTS] [--out DIR | --publish]`` and ``... singles``.

Builds into ``RESULTS/leaderboard`` by default; into the committed ``leaderboard/`` only with
``--publish``. ``singles`` (:mod:`suite.app.singles`) writes the single-model reference rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from suite.app import cli
from suite.app.singles import main as singles_main
from suite.core.errors import ConfigError, DataError
from suite.core.io import cache_dir
from suite.leaderboard import build, load, manifest, render
from suite.leaderboard import plots as plotting
from suite.leaderboard.build import Leaderboard
from suite.leaderboard.reference import Oracle

ABOUT = "ABOUT.md"  # kept in the output folder: what the published matrix is and how it ran


PUBLISHED = Path("leaderboard")  # the committed, published folder (relative to the repo root)
OUT_NAME = "leaderboard"  # the default output folder, inside RESULTS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m suite.leaderboard",
        usage="%(prog)s [-h] [RESULTS] [--out OUT | --publish] [--no-plots] [--strict] "
        "[--about ABOUT] [--cache CACHE]\n       %(prog)s singles RESULTS --task T [...]",
        description="Build leaderboard tables (md, tex, html, csv, json) and plots (png, svg) "
        "from the run folders under RESULTS. A build removes the files its previous build "
        "wrote into the same folder (listed in OUT/manifest.json) that it no longer writes; "
        "it never removes other files.",
        epilog="Subcommand: python -m suite.leaderboard singles RESULTS --task T [--backend B] "
        "[--pool P] [key=value ...] writes the single-model reference rows (one suite.evaluate "
        "per model of the pool) under RESULTS/<task>/single/; see "
        "python -m suite.leaderboard singles --help.",
    )
    parser.add_argument(
        "results",
        nargs="?",
        default=Path("results"),
        type=Path,
        help="folder of run folders (searched recursively for final.json) (default: results)",
    )
    parser.add_argument(
        "--out",
        default=None,
        type=Path,
        help=f"output folder (default: RESULTS/{OUT_NAME}; the published {PUBLISHED}/ "
        "folder only with --publish)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help=f"write into the committed {PUBLISHED}/ folder (default: off)",
    )
    parser.add_argument("--no-plots", action="store_true", help="tables only (default: off)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 on any warning, e.g. a row with one seed (default: off)",
    )
    parser.add_argument(
        "--about",
        type=Path,
        default=None,
        help=f"markdown inserted under the README header (default: OUT/{ABOUT} if present)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="file memoising sim expected accuracies (default: "
        "<suite cache folder>/leaderboard/sim_expected.json)",
    )
    return parser


def output_folder(results: Path, out: Path | None, publish: bool) -> Path:
    """Where a build writes: --out, the published folder with --publish, else RESULTS/leaderboard.

    Raises:
        ConfigError: when the folder is the published one and --publish is not given.
    """
    target = out if out is not None else (PUBLISHED if publish else results / OUT_NAME)
    if not publish and target.resolve() == PUBLISHED.resolve():
        raise ConfigError(
            f"{target} is the published leaderboard folder; add --publish to write into it "
            f"(or leave out --out to write to {results / OUT_NAME})"
        )
    return target


def build_all(
    results: Path,
    out: Path,
    plots: bool = True,
    about: str = "",
    cache: Path | None = None,
) -> tuple[Leaderboard, list[Path]]:
    """Load, aggregate and write everything; returns the leaderboard and the written files.

    Files the previous build into ``out`` wrote and this one does not are removed.
    """
    collection = load.load(results)
    if not collection.runs:
        raise DataError(
            f"no completed run under {results} ({len(collection.excluded)} failed, interrupted "
            "or unreadable); rerun them (python -m suite.missing lists the cells) and retry"
        )
    board = build.build(collection, Oracle(cache if cache is not None else _default_cache()))
    old = manifest.previous(out)
    names = plotting.write_plots(board, out) if plots else []
    files = render.write_tables(board, out, names, about)
    written = [p.relative_to(out).as_posix() for p in files] + names
    manifest.prune(out, old, written)
    manifest.write(out, written)
    board.oracle.save()
    return board, files + [out / n for n in names]


def _default_cache() -> Path:
    return cache_dir() / "leaderboard" / "sim_expected.json"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    cli.quiet_environment()
    if args_list[:1] == ["singles"]:
        return int(singles_main(args_list[1:]))
    args = _parser().parse_args(args_list)

    def body() -> int:
        start = time.perf_counter()
        out = output_folder(args.results, args.out, args.publish)
        if out.exists() and not out.is_dir():
            raise DataError(f"--out {out} is a file; pass --out <a folder>")
        about_file = args.about or (out / ABOUT)
        about = about_file.read_text(encoding="utf-8") if about_file.is_file() else ""
        board, files = build_all(args.results, out, not args.no_plots, about, args.cache)
        for warning in board.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        excluded = board.collection.excluded
        for e in excluded:  # a damaged folder is named with why; other kinds are only counted
            if e.status in ("malformed", "unreadable"):
                print(f"skipped {board.collection.rel(e.path)}: {e.reason}", file=sys.stderr)
        if excluded:
            kinds: dict[str, int] = {}
            for e in excluded:
                kinds[e.status] = kinds.get(e.status, 0) + 1
            listed = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            print(f"excluded {len(excluded)} runs ({listed}); see {out / 'README.md'}")
        n_runs = len(board.collection.runs)
        print(
            f"wrote {len(files)} files to {out} from {n_runs} runs in "
            f"{time.perf_counter() - start:.1f} s"
        )
        if args.strict and board.warnings:
            print(
                f"error: {len(board.warnings)} warnings and --strict",
                file=sys.stderr,
            )
            return 2
        return 0

    return cli.guarded(body)
