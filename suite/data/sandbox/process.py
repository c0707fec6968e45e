"""Start one sandboxed child, wait for it under the wall-clock limit, and say how it ended."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any

from suite.data.sandbox.bootstrap import SENTINEL


@dataclass(frozen=True)
class RunResult:
    """What one program did.

    Attributes:
        passed: It ran to its end and exited with status 0.
        status: ``passed``, ``failed`` (an exception or a non-zero exit), ``timeout`` (wall
            clock) or ``killed`` (a signal, e.g. the CPU or file-size limit).
        detail: The last line the program wrote to stderr (the exception), at most 300 chars.
        wall_s: Wall-clock seconds of the run.
    """

    passed: bool
    status: str
    detail: str
    wall_s: float


def execute(
    cmd: list[str], wall_s: float, start: float, *, exit_by_signal: bool = False, **popen: Any
) -> RunResult:
    """Start ``cmd`` in its own session, wait up to ``wall_s``, classify how it ended.

    Args:
        cmd: The command line.
        wall_s: Seconds after which the whole process group is killed.
        start: ``time.perf_counter()`` when the run began (its wall time counts from there).
        exit_by_signal: Read exit statuses above 128 as a signal (bubblewrap reports a child
            killed by signal N as 128 + N).
        **popen: More ``subprocess.Popen`` arguments (``env``, ``cwd``, ``pass_fds``, ``user``).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        code, timed_out = _wait(cmd, wall_s, out, err, popen)
        stdout, stderr = _tail(out, 4096), _tail(err, 4096)
    wall = time.perf_counter() - start
    detail = (stderr.strip().splitlines() or [""])[-1][:300]
    if code is None:
        return RunResult(False, "failed", f"could not start: {detail}", 0.0)
    if timed_out:
        return RunResult(False, "timeout", f"wall-clock limit {wall_s:g} s", wall)
    if code == 0 and stdout.rstrip().endswith(SENTINEL):
        return RunResult(True, "passed", "", wall)
    if code < 0:
        return RunResult(False, "killed", f"killed by signal {-code}", wall)
    if exit_by_signal and code > 128:
        return RunResult(False, "killed", f"killed by a signal ({_signal_name(code - 128)})", wall)
    if detail.startswith("unshare:"):  # util-linux 2.38 reports a killed child this way
        return RunResult(False, "killed", "killed by a signal (CPU or file-size limit)", wall)
    return RunResult(False, "failed", detail or f"exit status {code}", wall)


def _wait(
    cmd: list[str], wall_s: float, out: IO[bytes], err: IO[bytes], popen: dict[str, Any]
) -> tuple[int | None, bool]:
    """Run to the end or the limit; then kill the group. None: it could not start."""
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
            close_fds=True, **popen,
        )  # fmt: skip
    except OSError as exc:
        err.write(str(exc).encode())
        return None, False
    try:
        proc.wait(timeout=wall_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    # the leader is not reaped yet, so its group id cannot have been reused
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(), timed_out


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    why = {"SIGXCPU": "the CPU limit", "SIGKILL": "the CPU hard limit or a kill"}.get(name)
    return f"{name}: {why}" if why else name


def _tail(handle: IO[bytes], size: int) -> str:
    end = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, end - size))
    return handle.read().decode("utf-8", "replace")
