"""Run untrusted Python programs (model-written HumanEval code) behind an operating-system boundary.

Bubblewrap namespaces, read-only mounts, a size-capped tmpfs and seccomp are the boundary
(:mod:`.bwrap`); rlimits and an audit hook are a second layer. Without the first, running refuses
unless ``TTSGB_SANDBOX=weak`` accepts the second alone (:mod:`.weak`). Stdlib and suite.core only.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from suite.core.errors import ConfigError
from suite.data.sandbox import bwrap, seccomp, weak
from suite.data.sandbox.bootstrap import SENTINEL, config
from suite.data.sandbox.process import RunResult

__all__ = ["MODE_ENV", "SENTINEL", "Limits", "RunResult", "Sandbox", "SandboxUnavailable"]

MODE_ENV = "TTSGB_SANDBOX"  # "weak": accept rlimits and the audit hook where bwrap cannot run


class SandboxUnavailable(ConfigError):
    """No operating-system isolation here, and weaker isolation was not accepted."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run.

    Attributes:
        cpu_s: CPU seconds (``RLIMIT_CPU``); the paper allows 10 s per HumanEval check.
        wall_s: Wall-clock seconds after which the whole process group is killed.
        memory_bytes: Address space (``RLIMIT_AS``).
        file_bytes: Largest file the program may write (``RLIMIT_FSIZE``).
        open_files: Open file descriptors (``RLIMIT_NOFILE``).
        folder_bytes: Size of the program's tmpfs folder, all files together (bwrap only).
    """

    cpu_s: int = 10
    wall_s: float = 15.0
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    open_files: int = 64
    folder_bytes: int = 32 << 20


class Sandbox:
    """Runs programs in isolated child processes under limits; a batch runs in parallel.

    Construction probes, once per process, what the machine allows (:attr:`isolation`): with
    bubblewrap each run gets fresh user, PID, network, IPC, UTS and cgroup namespaces, a root
    holding only read-only ``/usr`` and the interpreter, a tmpfs working folder of
    ``limits.folder_bytes``, an empty environment, user ``nobody`` and a seccomp filter. In every
    mode: ``python -I -S -B``, the :class:`Limits` set with ``setrlimit``, a wall-clock kill of
    the whole process group, and an audit hook refusing sockets, process creation, signals,
    native-code imports and file changes outside the folder. :meth:`guarantees` lists it all.

    Args:
        limits: Resource limits of every run.
        workers: Runs at once (default: the CPU count).
        audit_hook: Install the in-process guard (tests turn it off to check the kernel layers).
        cache_size: Results kept in memory by program text and limits (0 disables).
        force_weak: Use only the weak layers even where bubblewrap works (benchmarks, tests).

    Raises:
        SandboxUnavailable: Bubblewrap cannot run here and ``$TTSGB_SANDBOX`` is not ``weak``.
        ConfigError: ``$TTSGB_SANDBOX`` has another value.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        workers: int | None = None,
        audit_hook: bool = True,
        cache_size: int = 4096,
        force_weak: bool = False,
    ) -> None:
        self.limits = limits or Limits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.audit_hook = audit_hook
        self.cache_size = cache_size
        self._cache: OrderedDict[str, RunResult] = OrderedDict()
        self._lock = threading.Lock()
        self._plan: bwrap.Plan | None = None
        self._prefix: list[str] = []
        self._drop_to: int | None = None
        accept_weak = _accepts_weak()
        plan = None if force_weak else bwrap.probe(self._bwrap_config)
        if isinstance(plan, bwrap.Plan):
            self._plan = plan
        elif force_weak or accept_weak:
            self._prefix, self._drop_to = weak.probe(self._weak_config)
        else:
            raise SandboxUnavailable(
                f"refusing to run untrusted code without OS-level isolation: {plan}; "
                f"set {MODE_ENV}=weak to accept the weaker sandbox (rlimits and an audit hook)"
            )

    @property
    def isolation(self) -> str:
        """The isolation that runs: ``bwrap+seccomp``, ``bwrap`` (no filter here) or ``weak``."""
        if self._plan is None:
            return "weak"
        return "bwrap+seccomp" if self._plan.seccomp else "bwrap"

    def guarantees(self) -> dict[str, bool | str]:
        """Which protections are in force on this machine (recorded with every score)."""
        os_level = self._plan is not None
        return {
            "isolation": self.isolation,
            "separate_process": True,
            "rlimits": "cpu, address space, file size, open files",
            "wall_timeout_kills_process_group": True,
            "temporary_working_folder": True,
            "audit_hook": self.audit_hook,
            "user_namespace": os_level,
            "mount_namespace_read_only_root": os_level,
            "folder_size_cap_bytes": str(self.limits.folder_bytes) if os_level else "none",
            "seccomp": ", ".join(seccomp.refused_calls()) if self.isolation.endswith("seccomp")
            else "none",
            "network_namespace": os_level or "-n" in self._prefix or "-rn" in self._prefix,
            "pid_namespace": os_level or "--pid" in self._prefix,
            "runs_as_nobody": os_level or self._drop_to is not None,
            "fork_limit_by_kernel": os_level or self._drop_to is not None or os.geteuid() != 0,
        }  # fmt: skip

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
        text = json.dumps([program, asdict(self.limits), self.audit_hook, self.isolation])
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

    def _rlimits(self) -> dict[str, int]:
        lim = self.limits
        return {
            "RLIMIT_CPU": lim.cpu_s,
            "RLIMIT_AS": lim.memory_bytes,
            "RLIMIT_FSIZE": lim.file_bytes,
            "RLIMIT_NOFILE": lim.open_files,
            "RLIMIT_CORE": 0,
        }

    def _bwrap_config(self, root: str, program: str) -> str:
        cfg = config(
            rlimits=self._rlimits(), root=root, program=program, audit_hook=self.audit_hook
        )
        return json.dumps(cfg)

    def _weak_config(self, root: str, program: str, drop_to: int | None) -> str:
        cfg = config(
            rlimits=self._rlimits(), root=root, program=program, audit_hook=self.audit_hook,
            drop_to=drop_to, nproc=os.geteuid() != 0,
        )  # fmt: skip
        return json.dumps(cfg)

    def _run_one(self, program: str) -> RunResult:
        if self._plan is not None:
            lim = self.limits
            return bwrap.run(self._plan, program, self._bwrap_config, lim.wall_s, lim.folder_bytes)
        return weak.run(self._prefix, self._drop_to, program, self._weak_config, self.limits.wall_s)


def _accepts_weak() -> bool:
    """Whether ``$TTSGB_SANDBOX`` accepts weak isolation (``weak``), or demands OS isolation."""
    value = os.environ.get(MODE_ENV, "")
    if value not in ("", "weak"):
        raise ConfigError(
            f"{MODE_ENV}={value!r} is not a sandbox mode; use {MODE_ENV}=weak or unset"
        )
    return value == "weak"
