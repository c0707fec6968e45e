"""Weak isolation, only where asked for (``TTSGB_SANDBOX=weak``): rlimits and the audit hook.

Plus what ``unshare`` gives without mounts (network and PID namespaces) and a drop to ``nobody``
where the interpreter is world-readable. The program's folder is a host temporary folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from suite.data.sandbox.bootstrap import BOOTSTRAP
from suite.data.sandbox.process import RunResult, execute

NOBODY = 65534
ConfigFor = Callable[[str, str, int | None], str]  # (folder, program, drop_to) -> JSON


def run(prefix: list[str], drop_to: int | None, program: str, cfg_for: ConfigFor,
        wall_s: float) -> RunResult:  # fmt: skip
    """Run one program in a fresh host temporary folder (removed afterwards)."""
    start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="tgb-sandbox-")).resolve()
    try:
        path = root / "program.py"
        path.write_text(program, encoding="utf-8")
        os.chmod(path, 0o644)
        if drop_to is not None:
            os.chown(root, drop_to, drop_to)
        cfg = cfg_for(str(root), str(path), drop_to)
        cmd = [*prefix, sys.executable, "-I", "-S", "-B", "-c", BOOTSTRAP, cfg]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "TMPDIR": str(root), "LANG": "C.UTF-8"}
        return execute(cmd, wall_s, start, env=env, cwd=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


_PROBED: tuple[list[str], int | None] | None = None
_PROBE_LOCK = threading.Lock()


def probe(cfg_for: ConfigFor) -> tuple[list[str], int | None]:
    """The strongest weak layers here: ``unshare`` namespaces first, then the user drop.

    Returns:
        The command prefix (``unshare`` options or nothing) and the uid to drop to, if any.
    """
    global _PROBED
    with _PROBE_LOCK:
        if _PROBED is None:
            _PROBED = _probe_uncached(cfg_for)
        return _PROBED


def _probe_uncached(cfg_for: ConfigFor) -> tuple[list[str], int | None]:
    unshare = shutil.which("unshare")
    root_user = os.geteuid() == 0
    prefixes: list[list[str]] = []
    if unshare:
        flags = ["-n", "--pid", "--fork", "--kill-child"]
        prefixes = [[unshare, *flags]] if root_user else []
        prefixes += [[unshare, "-r", *flags], [unshare, "-n"], [unshare, "-rn"]]
    prefixes.append([])
    trivial = "import math\nassert math.gcd(4, 6) == 2\n"
    for prefix in prefixes:
        for drop in [NOBODY, None] if root_user and "-r" not in prefix else [None]:
            if run(prefix, drop, trivial, cfg_for, 10.0).passed:
                return prefix, drop
    return [], None
