"""The program that runs first inside the sandboxed interpreter: limits, then the audit hook.

It is passed as ``python -I -S -B -c BOOTSTRAP CONFIG``; :func:`config` builds CONFIG.
"""

from __future__ import annotations

SENTINEL = "__tgb_sandbox_finished__"

# Runs inside the child, before the program: limits, optional privilege drop, then a PEP 578
# audit hook, the second layer under the operating system's. Every name the hook uses is bound
# as a default argument, and replacing a bootstrap function's code or defaults is refused, so a
# program cannot switch the hook off from Python (it can from native code or /proc/self/mem,
# which is why the namespaces and seccomp filter of bubblewrap are the boundary).
BOOTSTRAP = r"""
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
GUARDED_ATTRS = frozenset(("__code__", "__defaults__", "__kwdefaults__"))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

def inside(path, _cwd=os.getcwd, _str=str, _bytes=bytes, _int=int, _isinstance=isinstance,
           _type=type, _root=ROOT):
    if _isinstance(path, _int):
        return True  # an already open descriptor (the OS layer bounds what it can reach)
    if _isinstance(path, _bytes):
        path = path.decode("utf-8", "surrogateescape")
    elif not _isinstance(path, _str):
        path = _type(path).__fspath__(path)
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
         _str=str, _int=int, _any=any, _getattr=getattr, _guarded=GUARDED_ATTRS):
    if event in _refused or event.startswith(("socket.", "ctypes.")):
        raise _error("sandbox refused " + event)
    if event in ("object.__setattr__", "object.__delattr__"):
        if args[1] in _guarded and _getattr(
                _getattr(args[0], "__code__", None), "co_filename", "") == "<string>":
            raise _error("sandbox refused changing its own hook")
    elif event == "import" and args[0].split(".")[0] in _blocked:
        raise _error("sandbox refused import of " + args[0])
    elif event == "open":
        path, mode, flags = args
        writing = (_isinstance(mode, _str) and _any(c in mode for c in "wax+")) or (
            _isinstance(flags, _int) and flags & _flags)
        if writing and not _inside(path):
            raise _error("sandbox refused writing outside its folder")
    elif event in _paths:
        for path in (args[0], args[1]) if event == "os.rename" else (args[0],):
            if not _inside(path):
                raise _error("sandbox refused " + event + " outside its folder")

if cfg["audit_hook"]:
    sys.addaudithook(hook)
del hook, inside
with open(cfg["program"], encoding="utf-8") as handle:
    source = handle.read()
namespace = {"__name__": "__sandbox__", "__builtins__": __builtins__}
try:
    exec(compile(source, "program.py", "exec"), namespace)
except SystemExit as exc:
    raise SystemExit("program exited early with " + repr(exc.code)) from None
print(cfg["sentinel"], flush=True)
"""

REFUSED_EVENTS = (
    "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
    "os.startfile", "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill",
    "os.symlink", "os.link", "os.setuid", "os.chroot", "resource.setrlimit",
    "resource.prlimit", "sys.addaudithook", "pty.spawn",
)  # fmt: skip
PATH_EVENTS = (
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
    "os.utime", "os.chflags", "os.mkfifo", "os.mknod", "os.setxattr", "os.removexattr",
)  # fmt: skip
BLOCKED_IMPORTS = ("ctypes", "_ctypes", "cffi", "_cffi_backend", "_posixsubprocess")


def config(
    *,
    rlimits: dict[str, int],
    root: str,
    program: str,
    audit_hook: bool,
    drop_to: int | None = None,
    nproc: bool = False,
) -> dict[str, object]:
    """The bootstrap's CONFIG: limits to set, the program's folder and file, the hook's lists.

    Args:
        rlimits: ``resource`` limit names and the value set as both soft and hard limit.
        root: The program's writable folder, as the program sees it.
        program: The program file, as the program sees it.
        audit_hook: Install the audit hook.
        drop_to: Switch to this uid and gid before the program (weak isolation as root).
        nproc: Set ``RLIMIT_NPROC`` to 1 (weak isolation as an ordinary user).
    """
    return {
        "rlimits": rlimits,
        "drop_to": drop_to,
        "nproc": nproc,
        "root": root,
        "program": program,
        "sentinel": SENTINEL,
        "audit_hook": audit_hook,
        "refused_events": list(REFUSED_EVENTS),
        "path_events": list(PATH_EVENTS),
        "blocked_imports": list(BLOCKED_IMPORTS),
    }
