"""Run untrusted Python programs (model-written HumanEval code) in a separate, limited process.

Stdlib only, so the HumanEval task entry in ``tasks/`` can import it. What is enforced, and by
what, is listed by :meth:`Sandbox.guarantees`; the README's data section says the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

SENTINEL = "__tgb_sandbox_finished__"
NOBODY = 65534

# Runs inside the child, before the program: limits, optional privilege drop, then a PEP 578
# audit hook (it cannot be removed once added). Every name the hook uses is bound as a default
# argument, so a program that monkeypatches os, posixpath or builtins cannot change its checks.
_BOOTSTRAP = r"""
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
for name, value in cfg["rlimits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
if cfg["drop_to"] is not None:
    os.setgroups([]); os.setgid(cfg["drop_to"]); os.setuid(cfg["drop_to"])
    resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
elif cfg["nproc"]:
    resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
ROOT = cfg["root"]
REFUSED = frozenset(cfg["refused_events"])
PATHS = frozenset(cfg["path_events"])
BLOCKED_IMPORTS = frozenset(cfg["blocked_imports"])
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

def inside(path, _cwd=os.getcwd, _str=str, _bytes=bytes, _int=int, _isinstance=isinstance,
           _root=ROOT):
    if _isinstance(path, _int):
        return True  # an already open descriptor: its opening was checked
    if _isinstance(path, _bytes):
        path = path.decode("utf-8", "surrogateescape")
    elif not _isinstance(path, _str):
        path = type(path).__fspath__(path)
        if _isinstance(path, _bytes):
            path = path.decode("utf-8", "surrogateescape")
    if not path.startswith("/"):
        path = _cwd() + "/" + path
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    full = "/" + "/".join(parts)
    return full == _root or full.startswith(_root + "/")

def hook(event, args, _refused=REFUSED, _paths=PATHS, _blocked=BLOCKED_IMPORTS,
         _inside=inside, _flags=WRITE_FLAGS, _error=PermissionError, _isinstance=isinstance,
         _str=str, _int=int):
    if event in _refused or event.startswith(("socket.", "ctypes.")):
        raise _error("sandbox refused " + event)
    if event == "import" and args[0].split(".")[0] in _blocked:
        raise _error("sandbox refused import of " + args[0])
    if event == "open":
        path, mode, flags = args
        writing = (_isinstance(mode, _str) and any(c in mode for c in "wax+")) or (
            _isinstance(flags, _int) and flags & _flags)
        if writing and not _inside(path):
            raise _error("sandbox refused writing outside its folder")
    elif event in _paths:
        for path in (args[0], args[1]) if event == "os.rename" else (args[0],):
            if not _inside(path):
                raise _error("sandbox refused " + event + " outside its folder")

if cfg["audit_hook"]:
    sys.addaudithook(hook)
with open(cfg["program"], encoding="utf-8") as handle:
    source = handle.read()
namespace = {"__name__": "__sandbox__", "__builtins__": __builtins__}
try:
    exec(compile(source, "program.py", "exec"), namespace)
except SystemExit as exc:
    raise SystemExit("program exited early with " + repr(exc.code)) from None
print(cfg["sentinel"], flush=True)
"""

_REFUSED_EVENTS = (
    "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
    "os.startfile", "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill",
    "os.symlink", "os.link", "os.setuid", "os.chroot", "resource.setrlimit",
    "resource.prlimit", "sys.addaudithook", "pty.spawn",
)  # fmt: skip
_PATH_EVENTS = (
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
    "os.utime", "os.chflags", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr",
)  # fmt: skip
_BLOCKED_IMPORTS = ("ctypes", "_ctypes", "cffi", "_cffi_backend", "_posixsubprocess")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run.

    Attributes:
        cpu_s: CPU seconds (``RLIMIT_CPU``); the paper allows 10 s per HumanEval check.
        wall_s: Wall-clock seconds after which the whole process group is killed.
        memory_bytes: Address space (``RLIMIT_AS``).
        file_bytes: Largest file the program may write (``RLIMIT_FSIZE``).
        open_files: Open file descriptors (``RLIMIT_NOFILE``).
    """

    cpu_s: int = 10
    wall_s: float = 15.0
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    open_files: int = 64


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


class Sandbox:
    """Runs programs in child processes under limits; a batch runs in parallel.

    Each run gets a fresh temporary folder as its working directory (removed afterwards), an
    empty environment, ``python -I -S -B`` (no site-packages, no user paths), the limits of
    :class:`Limits` set with ``setrlimit`` in the child, an audit hook that refuses sockets,
    process creation, signals, native-code imports and file changes outside the folder, and,
    where the kernel allows it, new network and PID namespaces (``unshare``) and a drop to user
    ``nobody``. Which layers are active is probed once and reported by :meth:`guarantees`.

    Args:
        limits: Resource limits of every run.
        workers: Runs at once (default: the CPU count).
        audit_hook: Install the in-process guard (tests turn it off to check the kernel layers).
        cache_size: Results kept in memory by program text and limits (0 disables).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        workers: int | None = None,
        audit_hook: bool = True,
        cache_size: int = 4096,
    ) -> None:
        self.limits = limits or Limits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.audit_hook = audit_hook
        self.cache_size = cache_size
        self._cache: OrderedDict[str, RunResult] = OrderedDict()
        self._lock = threading.Lock()
        self._prefix, self._drop_to = _probe()

    def guarantees(self) -> dict[str, bool | str]:
        """Which protections are in force on this machine (recorded with every score)."""
        return {
            "separate_process": True,
            "rlimits": "cpu, address space, file size, open files",
            "wall_timeout_kills_process_group": True,
            "temporary_working_folder": True,
            "audit_hook": self.audit_hook,
            "network_namespace": "-n" in self._prefix or "-rn" in self._prefix,
            "pid_namespace": "--pid" in self._prefix,
            "runs_as_nobody": self._drop_to is not None,
            "fork_limit_by_kernel": self._drop_to is not None or os.geteuid() != 0,
        }

    def run(self, program: str) -> RunResult:
        """Run one program; never raises for anything the program does."""
        return self.run_many([program])[0]

    def run_many(self, programs: Sequence[str]) -> list[RunResult]:
        """Run programs in parallel (up to ``workers`` at once); results in the same order."""
        keys = [self._key(p) for p in programs]
        todo = {k: p for k, p in zip(keys, programs, strict=True) if self._cached(k) is None}
        if todo:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(todo))) as pool:
                done = dict(zip(todo, pool.map(self._run_one, todo.values()), strict=True))
            for key, result in done.items():
                self._remember(key, result)
        else:
            done = {}
        pairs = zip(keys, programs, strict=True)
        return [done.get(k) or self._cached(k) or self._run_one(p) for k, p in pairs]

    def _key(self, program: str) -> str:
        text = json.dumps([program, asdict(self.limits), self.audit_hook])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def _cached(self, key: str) -> RunResult | None:
        with self._lock:
            return self._cache.get(key)

    def _remember(self, key: str, result: RunResult) -> None:
        if self.cache_size <= 0 or result.status == "timeout":  # a timeout may be load, not code
            return
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _config(self, root: Path, program: Path) -> dict[str, object]:
        lim = self.limits
        return {
            "rlimits": {
                "RLIMIT_CPU": lim.cpu_s,
                "RLIMIT_AS": lim.memory_bytes,
                "RLIMIT_FSIZE": lim.file_bytes,
                "RLIMIT_NOFILE": lim.open_files,
                "RLIMIT_CORE": 0,
            },
            "drop_to": self._drop_to,
            "nproc": os.geteuid() != 0,
            "root": str(root),
            "program": str(program),
            "sentinel": SENTINEL,
            "audit_hook": self.audit_hook,
            "refused_events": list(_REFUSED_EVENTS),
            "path_events": list(_PATH_EVENTS),
            "blocked_imports": list(_BLOCKED_IMPORTS),
        }

    def _run_one(self, program: str) -> RunResult:
        start = time.perf_counter()
        root = Path(tempfile.mkdtemp(prefix="tgb-sandbox-")).resolve()
        try:
            path = root / "program.py"
            path.write_text(program, encoding="utf-8")
            if self._drop_to is not None:
                os.chown(root, self._drop_to, self._drop_to)
            config = json.dumps(self._config(root, path))
            cmd = [*self._prefix, sys.executable, "-I", "-S", "-B", "-c", _BOOTSTRAP, config]
            return _execute(cmd, root, self.limits.wall_s, start)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _execute(cmd: list[str], root: Path, wall_s: float, start: float) -> RunResult:
    """Start the child in its own session, wait up to ``wall_s``, classify how it ended."""
    out_path, err_path = root / ".stdout", root / ".stderr"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "TMPDIR": str(root), "LANG": "C.UTF-8"}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        try:
            proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, close_fds=True,
            )  # fmt: skip
        except OSError as exc:
            return RunResult(False, "failed", f"could not start: {exc}", 0.0)
        try:
            code = proc.wait(timeout=wall_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        # the leader is not reaped yet, so its group id cannot have been reused
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    wall = time.perf_counter() - start
    stdout = _tail(out_path, 4096)
    detail = (_tail(err_path, 4096).strip().splitlines() or [""])[-1][:300]
    if timed_out:
        return RunResult(False, "timeout", f"wall-clock limit {wall_s:g} s", wall)
    if code == 0 and stdout.rstrip().endswith(SENTINEL):
        return RunResult(True, "passed", "", wall)
    if code < 0:
        return RunResult(False, "killed", f"killed by signal {-code}", wall)
    if detail.startswith("unshare:"):  # util-linux 2.38 reports a killed child this way
        return RunResult(False, "killed", "killed by a signal (CPU or file-size limit)", wall)
    return RunResult(False, "failed", detail or f"exit status {code}", wall)


def _tail(path: Path, size: int) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode("utf-8", "replace")


_PROBED: tuple[list[str], int | None] | None = None
_PROBE_LOCK = threading.Lock()


def _probe() -> tuple[list[str], int | None]:
    """Find the strongest isolation this machine allows: namespaces first, then the user drop.

    Returns:
        The command prefix (``unshare`` options or nothing) and the uid to drop to, if any.
    """
    global _PROBED
    with _PROBE_LOCK:
        if _PROBED is None:
            _PROBED = _probe_uncached()
        return _PROBED


def _probe_uncached() -> tuple[list[str], int | None]:
    unshare = shutil.which("unshare")
    root_user = os.geteuid() == 0
    prefixes: list[list[str]] = []
    if unshare:
        flags = ["-n", "--pid", "--fork", "--kill-child"]
        prefixes = [[unshare, *flags]] if root_user else []
        prefixes += [[unshare, "-r", *flags], [unshare, "-n"], [unshare, "-rn"]]
    prefixes.append([])
    for prefix in prefixes:
        for drop in [NOBODY, None] if root_user and "-r" not in prefix else [None]:
            if _works(prefix, drop):
                return prefix, drop
    return [], None


def _works(prefix: list[str], drop_to: int | None) -> bool:
    """Whether a trivial program passes with this prefix and user (a 1-2 s probe at most)."""
    root = Path(tempfile.mkdtemp(prefix="tgb-sandbox-probe-")).resolve()
    try:
        path = root / "program.py"
        path.write_text("import math\nassert math.gcd(4, 6) == 2\n", encoding="utf-8")
        os.chmod(path, 0o644)
        if drop_to is not None:
            os.chown(root, drop_to, drop_to)
        config: dict[str, object] = {
            "rlimits": {"RLIMIT_CPU": 5}, "drop_to": drop_to, "nproc": False,
            "root": str(root), "program": str(path), "sentinel": SENTINEL,
            "audit_hook": False, "refused_events": [], "path_events": [], "blocked_imports": [],
        }  # fmt: skip
        cmd = [*prefix, sys.executable, "-I", "-S", "-B", "-c", _BOOTSTRAP, json.dumps(config)]
        return _execute(cmd, root, 10.0, time.perf_counter()).passed
    finally:
        shutil.rmtree(root, ignore_errors=True)
