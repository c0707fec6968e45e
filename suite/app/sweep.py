"""A sweep's ledger: one JSON line per cell, the parent's "cell k/N" lines and the end summary.

Every launcher's jobs (in this process, joblib or warm workers, Ray tasks, SLURM jobs) append
one line per cell to the ledger file that ``LEDGER_ENV`` names; the sweeper writes the plan
(cell count, swept keys) first. One thread of the parent follows the file and prints, so
parallel workers never interleave output. Order of calls: :func:`run_sweep` (the parent: names
the ledger, follows it with :class:`Progress`, prints :func:`summary`), :func:`write_plan` (the
sweeper), :func:`record` (each job).
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

# Jobs learn the ledger's path through ``hydra.job.env_set``, which every launcher applies in the
# job's own process; set it yourself (a path) to keep the ledger after the sweep.
LEDGER_ENV = "TTSGB_SWEEP_LEDGER"
_POLL_S = 0.2
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_mb() -> tuple[float, float]:
    """This process's resident memory now and its peak so far, in MiB (Linux)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            now = int(fh.read().split()[1]) * _PAGE_MB
    except (OSError, IndexError, ValueError):
        now = float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return round(now, 1), round(peak, 1)


def ledger_path(results_dir: Path) -> Path:
    """A new ledger's path in ``results_dir``, where every worker (any node) can append.

    Ledgers that killed sweeps on this machine left behind (their process is gone) are removed
    first; a sweep that ends in any other way removes its own.
    """
    for old in results_dir.glob(".sweep-*-*.jsonl"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            old.unlink(missing_ok=True)
    return (results_dir / f".sweep-{os.getpid()}-{secrets.token_hex(4)}.jsonl").resolve()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _append(path: str | None, entry: Mapping[str, Any]) -> None:
    """Append one line (a single short write, so lines of several processes never mix)."""
    if not path:
        return
    line = json.dumps(entry, sort_keys=True).replace("\n", " ") + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)


def write_plan(path: str | None, jobs: Sequence[Sequence[str]], launcher: str) -> list[str]:
    """Record the sweep's size and the keys that vary between its jobs; returns those keys."""
    first = [o.split("=", 1)[0] for o in jobs[0]] if jobs else []
    values: dict[str, set[str]] = {}
    for overrides in jobs:
        for ov in overrides:
            key, _, value = ov.partition("=")
            values.setdefault(key, set()).add(value)
    swept = [k for k in first if len(values.get(k, ())) > 1]
    _append(path, {"plan": {"total": len(jobs), "swept": swept, "launcher": launcher}})
    return swept


def record(
    path: str | None,
    overrides: Sequence[str],
    status: str,
    *,
    where: Path | None = None,
    error: str | None = None,
    seconds: float = 0.0,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Append the outcome of one cell: ``completed``, ``skipped``, ``busy`` or ``failed``.

    Args:
        path: The ledger (None: no sweep is listening, nothing is written).
        overrides: The job's overrides, which name the cell.
        status: What happened.
        where: The run folder (the completed one when skipped).
        error: One line saying why, for ``failed``.
        seconds: Wall time of the cell in its process.
        extra: Further fields (the worker's warm-state counters).
    """
    now_mb, peak_mb = memory_mb()
    entry = {
        "overrides": list(overrides),
        "status": status,
        "where": str(where) if where is not None else None,
        "error": error,
        "seconds": round(seconds, 3),
        "ended_at": round(time.time(), 3),
        "pid": os.getpid(),
        "rss_mb": now_mb,
        "peak_rss_mb": peak_mb,
        **(extra or {}),
    }
    _append(path, entry)


class TaskMemo(dict[Any, Any]):
    """Loaded tasks by (task config, test_n), at most ``limit`` of them, counting loads.

    ``suite.engine.session.build`` stores a task here the first time it loads it, so ``loads``
    counts how often this process built a task; a sweep's cells reuse the rest (warm state).
    """

    def __init__(self, limit: int = 8) -> None:
        super().__init__()
        self.limit = limit
        self.loads = 0
        self.cells = 0

    def __setitem__(self, key: Any, value: Any) -> None:
        self.loads += 1
        while len(self) >= self.limit:  # bounded, so memory stays flat across many tasks
            del self[next(iter(self))]
        super().__setitem__(key, value)

    def counters(self) -> dict[str, int]:
        """Warm-state counters of this process (the ledger records them per cell)."""
        self.cells += 1
        return {"task_loads": self.loads, "cells_in_process": self.cells}


# The tasks this process loaded for sweep cells (a warm worker's, or the basic launcher's).
TASKS = TaskMemo()


_WORDS = {
    "completed": "done",
    "skipped": "skipping completed cell",
    "busy": "skipping cell another sweep is running",
    "failed": "failed",
}


@dataclass
class Tally:
    """What the ledger said so far: the plan and every cell's entry, in arrival order."""

    total: int | None = None
    swept: list[str] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many cells ended with ``status``."""
        return sum(1 for c in self.cells if c.get("status") == status)

    def name(self, cell: Mapping[str, Any]) -> str:
        """The cell as its swept overrides (all of them when the plan is unknown)."""
        overrides = [str(o) for o in cell.get("overrides", [])]
        keys = set(self.swept)
        shown = [o for o in overrides if o.split("=", 1)[0] in keys] if keys else overrides
        return " ".join(shown or overrides)

    def line(self, cell: Mapping[str, Any]) -> str:
        """``cell 17/1120 done: searcher=random task=mmlu seed=3 (0.41 s)``."""
        k = len(self.cells)
        of = f"/{self.total}" if self.total is not None else ""
        status = str(cell.get("status"))
        text = f"cell {k}{of} {_WORDS.get(status, status)}: {self.name(cell)}"
        if status == "failed":
            text += f": {cell.get('error')}"
        elif status == "completed":
            text += f" ({float(cell.get('seconds', 0.0)):.2f} s)"
        elif status == "skipped":
            text += f" ({cell.get('where')})"
        return text


class Progress:
    """Follows a ledger file from a thread of the parent and prints one line per cell.

    Args:
        path: The ledger file (it need not exist yet).
        stream: Where the lines go (stderr by default, like the single run's progress bar).
    """

    def __init__(self, path: Path, stream: TextIO | None = None) -> None:
        self.path = path
        self.stream = stream
        self.tally = Tally()
        self._offset = 0
        self._rest = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="sweep-progress", daemon=True)

    def start(self) -> Progress:
        """Start following the file."""
        self._thread.start()
        return self

    def stop(self) -> Tally:
        """Stop following, print what is left and return the tally."""
        if not self._stop.is_set():
            self._stop.set()
            if self._thread.is_alive():
                self._thread.join()
            self._read()
        return self.tally

    def _follow(self) -> None:
        while not self._stop.wait(_POLL_S):
            self._read()

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:  # not written yet
            return
        self._offset += len(chunk)
        data = self._rest + chunk
        *lines, self._rest = data.split(b"\n")
        for raw in lines:
            try:
                entry = json.loads(raw.decode("utf-8"))
            except ValueError:
                continue
            if isinstance(entry, dict):
                self._take(entry)

    def _take(self, entry: dict[str, Any]) -> None:
        plan = entry.get("plan")
        if isinstance(plan, dict):
            self.tally.total = int(plan.get("total", 0)) or None
            self.tally.swept = [str(k) for k in plan.get("swept", [])]
            return
        self.tally.cells.append(entry)
        print(self.tally.line(entry), file=self.stream or sys.stderr, flush=True)


def summary(tally: Tally, wall_s: float, stopped: bool = False) -> list[str]:
    """The end-of-sweep lines: counts, wall time, and where each failure is.

    ``stopped``: the sweep ended early (interrupted, a worker died); cells not reported yet
    are named as such.
    """
    n = len(tally.cells)
    rate = f", {n / wall_s:.2f} cells/s" if wall_s > 0 and n else ""
    busy = tally.count("busy")
    elsewhere = f", {busy} left to another sweep running them" if busy else ""
    lines = [
        f"sweep {'stopped' if stopped else 'finished'} in {wall_s:.1f} s ({n} cells{rate}): "
        f"{tally.count('completed')} completed, {tally.count('skipped')} skipped (already "
        f"done){elsewhere}, {tally.count('failed')} failed"
    ]
    if tally.total is not None and n < tally.total:
        why = "" if stopped else " (a worker was killed?)"
        lines.append(
            f"{tally.total - n} of {tally.total} cells never reported{why}; "
            "rerun the same command to run them"
        )
    for cell in tally.cells:
        if cell.get("status") == "failed":
            where = cell.get("where")
            at = f" (see {where}/final.json)" if where else ""
            lines.append(f"  failed: {tally.name(cell)}: {cell.get('error')}{at}")
    return lines


def run_sweep(args: Sequence[str], results_dir: Path, hydra: Callable[[list[str]], None]) -> int:
    """Run a -m sweep with its progress lines and summary; 2 if any cell failed anywhere.

    ``hydra`` runs Hydra's command line on the arguments it is given. Jobs learn where the
    ledger is through ``hydra.job.env_set``, which every launcher applies in the job's own
    process (warm and joblib workers, submitit jobs, Ray tasks on any node).
    ``TTSGB_SWEEP_LEDGER`` set by the user keeps the ledger at that path.
    """
    results_dir.mkdir(parents=True, exist_ok=True)
    kept = os.environ.get(LEDGER_ENV)
    path = Path(kept).resolve() if kept else ledger_path(results_dir)
    started = time.perf_counter()
    progress = Progress(path, sys.stdout).start()
    try:
        hydra([*args, f"++hydra.job.env_set.{LEDGER_ENV}='{path}'"])
    except BaseException:  # interrupted or stopped: say what was done before the error line
        tally = progress.stop()
        if tally.cells:
            for line in summary(tally, time.perf_counter() - started, stopped=True):
                print(line, flush=True)
        raise
    finally:
        tally = progress.stop()
        if not kept:
            path.unlink(missing_ok=True)
    for line in summary(tally, time.perf_counter() - started):
        print(line, flush=True)
    failed = sorted(
        {f"{tally.name(c)}: {c.get('error')}" for c in tally.cells if c["status"] == "failed"}
    )
    if failed:
        print(
            f"error: {len(failed)} cell(s) of the sweep failed: {'; '.join(failed)}; fix the "
            "cause and rerun the same command (completed cells are skipped)",
            file=sys.stderr,
        )
        return 2
    return 0
