"""The sandbox: hostile programs score 0 and leave the test process, its files and the machine
as they were; a batch runs in parallel. Limits are small so that the whole file takes seconds.

The attack catalogue (issue #13) runs every attack with and without the audit hook, as root and,
through a user namespace, as an ordinary user: the operating system alone must contain each."""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from suite.core.errors import ConfigError
from suite.data import sandbox
from suite.data.sandbox import Limits, Sandbox, SandboxUnavailable, bwrap, seccomp

FAST = Limits(cpu_s=1, wall_s=3.0, memory_bytes=512 << 20, file_bytes=1 << 20)
# A busy loop must meet its 1 CPU second before the wall clock, even on cores that other
# processes share (under load it gets a fraction of a core): a wide wall-clock margin.
CPU_BOUND = replace(FAST, wall_s=30.0)


def _os_sandbox(limits: Limits = FAST, **options: Any) -> Sandbox:
    """A sandbox with OS-level isolation, or a skip that says why this machine has none."""
    try:
        return Sandbox(limits, **options)
    except SandboxUnavailable as exc:
        pytest.skip(f"no OS-level isolation on this machine: {exc}")


@pytest.fixture(scope="module")
def box() -> Sandbox:
    return _os_sandbox(cache_size=0)


@pytest.fixture(scope="module")
def cpu_box() -> Sandbox:
    return _os_sandbox(CPU_BOUND, cache_size=0)


@pytest.fixture(autouse=True)
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp folder of this test's own for its sandboxes' folders (``tempfile.tempdir``).

    Checks for leftover folders and processes look only here, so a sandbox that another test
    or process runs at the same time is never taken for this test's. It sits in the system
    temp folder, not in pytest's ``tmp_path`` (mode 0700), so a sandbox run as ``nobody`` can
    still reach its program. (It takes ``tmp_path`` so that pytest makes that one first.)
    """
    base = Path(tempfile.mkdtemp(prefix="tgb-test-", dir=tempfile.gettempdir())).resolve()
    base.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_a_correct_program_passes_and_a_wrong_one_fails(box: Sandbox) -> None:
    assert box.run("assert sorted([3, 1, 2]) == [1, 2, 3]").passed
    result = box.run("assert 1 + 1 == 3")
    assert (result.passed, result.status, result.detail) == (False, "failed", "AssertionError")


@pytest.mark.parametrize(
    ("program", "status", "detail"),
    [
        pytest.param(  # CPU limit: a second of CPU at least
            "while True:\n    pass", "killed", "killed by a signal", marks=pytest.mark.slow
        ),
        ("import os\nwhile True:\n    os.fork()", "failed", "refused os.fork"),  # fork bomb
        ("x = bytearray(10 * 1024**3)", "failed", "MemoryError"),  # 10 GB
        ("import socket\nsocket.create_connection(('127.0.0.1', 9))", "failed", "socket"),
        ("import subprocess\nsubprocess.run(['true'])", "failed", "refused"),
        ("import os\nos.kill(os.getppid(), 9)", "failed", "refused os.kill"),
        ("import ctypes", "failed", "refused import of ctypes"),
        ("open('big', 'wb').write(b'x' * (8 << 20))", "failed", "File too large"),
        ("import sys\nsys.exit(0)", "failed", "exited early"),  # exit 0 is not a pass
        ("import os\nos._exit(0)", "failed", "exit status 0"),
    ],
    ids=[
        "loop",
        "fork-bomb",
        "10GB",
        "socket",
        "subprocess",
        "kill-parent",
        "ctypes",
        "big-file",
        "sys-exit-0",
        "os-exit-0",
    ],
)
def test_hostile_programs_score_zero(
    box: Sandbox, cpu_box: Sandbox, program: str, status: str, detail: str
) -> None:
    result = (cpu_box if status == "killed" else box).run(program)
    assert not result.passed and result.status == status and detail in result.detail, result


def test_writing_outside_its_folder_is_refused(box: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    for program in (
        f"open({str(target)!r}, 'w').write('x')",
        "open('../escaped.txt', 'w').write('x')",
        f"import os\nopen('a', 'w').close()\nos.rename('a', {str(target)!r})",
        f"import os\nos.symlink({str(tmp_path)!r}, 'link')",
        f"import os\nos.remove({str(Path(__file__))!r})",
    ):
        result = box.run(program)
        assert not result.passed and "refused" in result.detail, (program, result)
    assert not target.exists() and Path(__file__).exists()


def test_its_own_folder_is_writable_and_removed_afterwards(box: Sandbox, own_temp: Path) -> None:
    program = "open('notes.txt', 'w').write('hi')\nassert open('notes.txt').read() == 'hi'"
    assert box.run(program).passed
    assert not list(own_temp.glob("tgb-sandbox-*"))  # the weak sandbox's host folder is gone
    assert not list(Path("/tmp").glob(f"tgb-sandbox-{os.getpid()}-*"))


@pytest.mark.slow
def test_the_wall_clock_limit_kills_the_whole_group(box: Sandbox) -> None:
    start = time.perf_counter()
    result = box.run("import time\ntime.sleep(60)")
    assert result.status == "timeout" and time.perf_counter() - start < FAST.wall_s + 2
    time.sleep(0.2)
    mine = f"tgb-sandbox-{os.getpid()}-"  # every sandbox of this process has it in its command
    assert not _processes_mentioning(mine), "a sandboxed process outlived its run"


def test_a_batch_runs_in_parallel_up_to_the_core_count() -> None:
    assert Sandbox().workers == (os.cpu_count() or 1)
    four = _os_sandbox(workers=4, cache_size=0)
    start = time.perf_counter()
    results = four.run_many(["import time\ntime.sleep(1)\nassert True"] * 4)
    assert all(r.passed for r in results)
    assert time.perf_counter() - start < 3.0  # four one-second sleeps at once, not in a row


def test_results_keep_order_and_repeats_are_cached() -> None:
    box = _os_sandbox()
    programs = ["assert True", "assert False", "assert True"]
    assert [r.passed for r in box.run_many(programs)] == [True, False, True]
    start = time.perf_counter()
    assert [r.passed for r in box.run_many(programs)] == [True, False, True]
    assert time.perf_counter() - start < 0.05  # answered from the cache


def test_guarantees_say_what_is_enforced(box: Sandbox) -> None:
    facts = box.guarantees()
    assert facts["isolation"] == box.isolation and box.isolation.startswith("bwrap")
    assert facts["user_namespace"] and facts["mount_namespace_read_only_root"]
    assert facts["separate_process"] and facts["audit_hook"]
    assert facts["wall_timeout_kills_process_group"] and facts["temporary_working_folder"]
    if os.geteuid() == 0 and not facts["runs_as_nobody"]:
        assert not facts["fork_limit_by_kernel"]  # root ignores RLIMIT_NPROC


@pytest.mark.slow
def test_without_the_audit_hook_the_kernel_still_limits(tmp_path: Path) -> None:
    """The layers below the hook: rlimits always, the network namespace where available."""
    bare = _os_sandbox(CPU_BOUND, audit_hook=False, cache_size=0)
    assert not bare.run("x = bytearray(10 * 1024**3)").passed
    assert bare.run("while True:\n    pass").status == "killed"
    if not bare.guarantees()["network_namespace"]:
        pytest.skip("no network namespace on this machine (unshare unavailable)")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        accepted: list[object] = []
        server.settimeout(3)
        thread = threading.Thread(target=lambda: _accept(server, accepted))
        thread.start()
        result = bare.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), 2)")
        thread.join()
    assert not result.passed and not accepted  # the child's loopback is not the host's


def _accept(server: socket.socket, accepted: list[object]) -> None:
    with contextlib.suppress(OSError):
        accepted.append(server.accept())


def test_the_package_imports_only_the_standard_library_and_suite_errors() -> None:
    """tasks/humaneval_utils.py imports it: the stdlib, its own modules and the error family."""
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for path in Path(sandbox.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        suite = {m for m in modules if m and m.split(".")[0] == "suite"}
        assert all(m == "suite.core.errors" or m.startswith("suite.data.sandbox") for m in suite)
        assert {m.split(".")[0] for m in modules - suite if m} <= allowed, (path, modules)


# ---------------------------------------------------------------------------------------------
# The attack catalogue (issue #13 §1 and the attacks above): one test per attack, run with and
# without the audit hook. Every program gets the same prelude: the paths of a planted 0600
# secret, an empty folder outside the sandbox and a results folder holding a final.json; the
# parent process holds a fake OPENAI_API_KEY. Whatever a program obtains, it reports in the last
# stderr line (``result.detail``); the checks below assert that nothing was obtained and that
# nothing outside changed, whatever the program's pass status.

PRELUDE = """\
import os, sys, gc
SECRET, OUTSIDE, RESULTS = {secret!r}, {outside!r}, {results!r}
got = []
def grab_key():
    for pid in os.listdir('/proc'):
        try:
            data = open('/proc/' + pid + '/environ', 'rb').read()
        except (OSError, ValueError):
            continue
        for item in data.split(b'\\0'):
            if item.startswith(b'OPENAI_API_KEY='):
                got.append(item.decode())
    if os.environ.get('OPENAI_API_KEY'):
        got.append(os.environ['OPENAI_API_KEY'])
    return got[-1] if got else 'nothing'
def unhook():
    for obj in gc.get_objects():
        if getattr(obj, '__name__', None) in ('hook', 'inside') and hasattr(obj, '__code__'):
            try:
                obj.__code__ = (lambda *a, **k: True).__code__
                got.append('unhooked')
            except Exception:
                pass
def attempt():
"""
REPORT = """
try:
    attempt()
except BaseException as exc:
    got.append('stopped: ' + type(exc).__name__)
raise RuntimeError('REPORT ' + repr(got))  # a pass would hide stderr
"""

ATTACKS = {
    "key-from-proc-environ": "grab_key()",
    "key-written-to-results-via-dir-fd": (
        "d = os.open(RESULTS, os.O_RDONLY)\n"
        "fd = os.open('stolen.txt', os.O_WRONLY | os.O_CREAT, dir_fd=d)\n"
        "os.write(fd, grab_key().encode())"
    ),
    "hook-code-replaced-then-system": (
        "sys.modules['__main__'].__dict__.get('hook', None)\n"
        "unhook()\n"
        "os.system('cat ' + SECRET + ' > ' + OUTSIDE + '/system.txt')"
    ),
    "hook-defaults-replaced-via-gc": (
        "for f in gc.get_objects():\n"
        "    if getattr(f, '__name__', None) == 'hook' and hasattr(f, '__defaults__'):\n"
        "        f.__defaults__ = tuple(frozenset() for _ in f.__defaults__)\n"
        "        got.append('defaults replaced')\n"
        "open(OUTSIDE + '/defaults.txt', 'w').write(grab_key())"
    ),
    "hook-off-then-ctypes": (
        "unhook()\n"
        "import ctypes\n"
        "libc = ctypes.CDLL(None)\n"
        "got.append('ctypes-uid-%d' % libc.getuid())\n"
        "libc.mkdir((OUTSIDE + '/ctypes').encode(), 0o777)"
    ),
    "hook-off-then-fork": (
        "unhook()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    open(OUTSIDE + '/forked.txt', 'w').write('child')\n"
        "    os._exit(0)\n"
        "got.append('forked')"
    ),
    "hook-off-then-socket": (
        "unhook()\n"
        "import socket\n"
        "s = socket.create_connection(('127.0.0.1', {port}), 2)\n"
        "s.sendall(grab_key().encode())\n"
        "got.append('connected')"
    ),
    "read-0600-secret": "got.append(open(SECRET).read())",
    "list-home-folders": (
        "for home in ('/root', '/home', os.path.expanduser('~'), os.path.dirname(SECRET)):\n"
        "    try:\n"
        "        got.extend(os.listdir(home))\n"
        "    except OSError:\n"
        "        pass"
    ),
    "proc-self-mem-read-write-via-dir-fd": (
        "d = os.open('/proc/self', os.O_RDONLY)\n"
        "m = os.open('mem', os.O_RDWR, dir_fd=d)\n"
        "got.append('mem-open')\n"
        "unhook()\n"
        "o = os.open(OUTSIDE, os.O_RDONLY)\n"
        "os.close(os.open('mem.txt', os.O_WRONLY | os.O_CREAT, dir_fd=o))"
    ),
    "final-json-overwritten-via-dir-fd": (
        "d = os.open(RESULTS, os.O_RDONLY)\n"
        "fd = os.open('final.json', os.O_WRONLY | os.O_TRUNC, dir_fd=d)\n"
        'os.write(fd, b\'{"status": "forged"}\')'
    ),
    "final-json-deleted-via-dir-fd": (
        "d = os.open(RESULTS, os.O_RDONLY)\nos.unlink('final.json', dir_fd=d)"
    ),
    "fchmod-on-read-only-fd": (
        "fd = os.open(RESULTS + '/final.json', os.O_RDONLY)\nos.fchmod(fd, 0o777)"
    ),
    "sqlite-outside": (
        "import sqlite3\n"
        "db = sqlite3.connect(OUTSIDE + '/x.db')\n"
        "db.execute('create table t (x)')\n"
        "db.commit()"
    ),
    "reopen-read-only-fd-for-writing": (
        "fd = os.open(RESULTS + '/final.json', os.O_RDONLY)\n"
        "open('/proc/self/fd/%d' % fd, 'w').write('forged')"
    ),
    "leave-25MiB-behind": (
        "for i in range(25):\n    open('junk%d' % i, 'wb').write(b'x' * (1 << 20))"
    ),
    "unbounded-writes-inside-the-folder": (
        "total = 0\n"
        "try:\n"
        "    for i in range(400):\n"
        "        open('fill%d' % i, 'wb').write(b'x' * (1 << 20))\n"
        "        total += 1 << 20\n"
        "finally:\n"
        "    got.append(total)"
    ),
    "write-outside-by-path": ("unhook()\nopen(OUTSIDE + '/direct.txt', 'w').write('x')"),
    "write-outside-through-symlink": (
        "unhook()\nos.symlink(OUTSIDE, 'link')\nopen('link/through-link.txt', 'w').write('x')"
    ),
    "write-to-tmp-and-dev-shm": (
        "unhook()\n"
        "for path in ('/tmp/x', '/dev/shm/x', '/x', '/var/tmp/x'):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        got.append(path)\n"
        "    except OSError:\n"
        "        pass"
    ),
    "host-root-through-proc-root": (
        "for pid in os.listdir('/proc'):\n"
        "    try:\n"
        "        got.append(open('/proc/' + pid + '/root' + SECRET).read())\n"
        "    except OSError:\n"
        "        pass"
    ),
    "host-processes-visible": (
        "got.extend(open('/proc/%s/cmdline' % p, 'rb').read().decode(errors='replace')\n"
        "           for p in os.listdir('/proc') if p.isdigit())"
    ),
    "sysctl-write": (
        "unhook()\n"
        "path = '/proc/sys/kernel/core_uses_pid'\n"
        "value = open(path).read()\n"
        "open(path, 'w').write(value)\n"
        "got.append('sysctl written')"
    ),
    "kill-everything": (
        "unhook()\n"
        "for pid in [int(p) for p in os.listdir('/proc') if p.isdigit()] + [os.getppid(), -1]:\n"
        "    try:\n"
        "        os.kill(pid, 9)\n"
        "    except OSError:\n"
        "        pass"
    ),
    "fork-bomb-without-the-hook": (
        "unhook()\n"
        "for _ in range(10000):\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass"
    ),
    "new-namespaces-and-setuid": (
        "unhook()\n"
        "for call in (lambda: os.unshare(0x10000000), lambda: os.setuid(0)):\n"
        "    try:\n"
        "        call()\n"
        "        got.append('became root')\n"
        "    except (OSError, AttributeError):\n"
        "        pass\n"
        "open('/proc/sys/kernel/hostname').read()"
    ),
}
SILENT = ("unhooked", "defaults replaced", "mem-open", "ctypes-uid")  # attempts, not effects


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake key in the environment, a 0600 secret, an empty folder and a results folder."""
    key = f"sk-fake-{os.urandom(8).hex()}"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    host_temp = tmp_path / "host-temp"  # the sandbox's own temp files, apart from others'
    host_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(host_temp))
    secret = tmp_path / "home" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(f"secret-{os.urandom(8).hex()}")
    secret.chmod(0o600)
    outside, results = tmp_path / "outside", tmp_path / "results"
    outside.mkdir()
    results.mkdir()
    (results / "final.json").write_text('{"status": "done"}')
    (results / "final.json").chmod(0o644)
    return {"key": key, "secret": secret, "outside": outside, "results": results}


def _program(name: str, planted: dict[str, Any], port: int) -> str:
    body = ATTACKS[name].replace("{port}", str(port))
    head = PRELUDE.format(
        secret=str(planted["secret"]), outside=str(planted["outside"]),
        results=str(planted["results"]),
    )  # fmt: skip
    return head + "".join(f"    {line}\n" for line in body.splitlines()) + REPORT


def _host_temp() -> set[str]:
    """What the sandbox's host side keeps in its temp folder (private to the test, see below)."""
    return {p.name for p in Path(tempfile.gettempdir()).iterdir()}


def _check_contained(name: str, result: Any, planted: dict[str, Any], accepted: list[object],
                     temp_before: set[str], limits: Limits) -> None:  # fmt: skip
    """The attack's effects did not happen, whatever the program's pass status."""
    _, found, report = result.detail.partition("REPORT ")
    got = ast.literal_eval(report) if found and report.endswith("]") else []
    assert planted["key"] not in result.detail, (name, "the API key was read", result)
    assert planted["secret"].read_text() not in result.detail, (name, "the secret was read")
    assert not list(planted["outside"].iterdir()), (name, "files appeared outside")
    assert sorted(p.name for p in planted["results"].iterdir()) == ["final.json"], name
    final = planted["results"] / "final.json"
    assert final.read_text() == '{"status": "done"}' and final.stat().st_mode & 0o777 == 0o644
    assert not accepted, (name, "a connection reached the host")
    assert _host_temp() <= temp_before, (name, "files were left in the host's temp folder")
    allowed = set(Path(sys.base_prefix).resolve().parts)  # the way to the interpreter
    effects = [g for g in got if not str(g).startswith(("stopped", *SILENT))]
    if name == "unbounded-writes-inside-the-folder":
        assert effects and effects[0] <= limits.folder_bytes, (name, effects)
    elif name == "list-home-folders":
        assert set(effects) <= allowed, (name, effects)
    elif name == "host-processes-visible":
        assert all("pytest" not in str(e) and "python -m" not in str(e) for e in effects)
    elif name == "leave-25MiB-behind":
        assert "REPORT" in result.detail  # its own folder is writable; nothing of it stays
    else:
        assert not effects, (name, effects)


def _run_attack(name: str, planted: dict[str, Any], audit_hook: bool) -> None:
    limits = Limits(cpu_s=2, wall_s=10.0, memory_bytes=512 << 20, file_bytes=2 << 20)
    box = _os_sandbox(limits, audit_hook=audit_hook, cache_size=0)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.5)
        accepted: list[object] = []
        temp_before = _host_temp()
        result = box.run(_program(name, planted, server.getsockname()[1]))
        _accept(server, accepted)
    _check_contained(name, result, planted, accepted, temp_before, limits)


@pytest.mark.slow  # 52 sandboxed programs
@pytest.mark.parametrize("audit_hook", [True, False], ids=["hook", "no-hook"])
@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_contained(name: str, audit_hook: bool, planted: dict[str, Any]) -> None:
    _run_attack(name, planted, audit_hook)


@pytest.mark.slow
def test_every_attack_is_contained_as_an_ordinary_user() -> None:
    """The catalogue again, without the hook, in a pytest run by uid 1000: no root anywhere.

    Root starts it the way the sandbox starts bwrap as nobody (so the interpreter under /root
    stays reachable), as a real unprivileged user outside any namespace of its own.
    """
    if os.environ.get("TGB_SANDBOX_AS_USER"):
        pytest.skip("already the ordinary-user run")
    if os.geteuid() != 0:
        pytest.skip("this run is an ordinary user's already")
    found = bwrap.binary()
    root = Path(__file__).resolve().parents[2]
    paths = sorted({str(root), *(p for p in sys.path if p and Path(p).is_dir())})
    plan = bwrap.as_user(found, 1000, paths) if found else "no bwrap"
    if isinstance(plan, str):
        pytest.skip(f"cannot start a process as an ordinary user here: {plan}")
    # pytest's temp folders are root-only, and the child's pytest recreates --basetemp, so it
    # lives in the system temp folder (sticky, world-writable), not in this test's own_temp
    system_temp = os.environ.get("TMPDIR", "/tmp")
    basetemp = Path(tempfile.mkdtemp(prefix="tgb-ordinary-user-", dir=system_temp))
    os.chown(basetemp, 1000, 1000)
    tests = [f"{__file__}::test_attack_is_contained", f"{__file__}::test_as_an_ordinary_user"]
    # the base interpreter with this one's import path: a venv's folder may be closed to others
    cmd = [*plan.launcher, bwrap.interpreter()[0], "-m", "pytest", "-p", "no:cacheprovider",
           f"--basetemp={basetemp}", *tests, "-k", "no-hook or ordinary"]  # fmt: skip
    env = {**os.environ, "TGB_SANDBOX_AS_USER": "1", "PYTHONPATH": os.pathsep.join(paths)}
    user = {} if plan.launcher else {"user": 1000, "group": 1000, "extra_groups": []}
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=300, pass_fds=plan.pass_fds,
            cwd=root, **user,
        )  # fmt: skip
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{len(ATTACKS) + 1} passed" in proc.stdout, proc.stdout[-500:]


def test_as_an_ordinary_user() -> None:
    """Guard for the test above: there the suite really is uid 1000 with no capabilities."""
    if not os.environ.get("TGB_SANDBOX_AS_USER"):
        pytest.skip("only meaningful in the ordinary-user run")
    status = Path("/proc/self/status").read_text()
    assert os.geteuid() == 1000 and "CapEff:\t0000000000000000" in status
    assert Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]


def test_folders_inside_another_needed_folder_take_no_bind_of_their_own() -> None:
    """The base interpreter's prefix holds its stdlib and lib-dynload: one bind, not three."""
    pyenv = "/root/.pyenv/versions/3.11.7"
    venv = "/tmp/t/venv"
    needed = [f"{pyenv}/lib/python3.11", pyenv, f"{pyenv}/lib/python3.11/lib-dynload",
              f"{venv}/bin", f"{venv}/lib/python3.11/site-packages", f"{venv}-b"]  # fmt: skip
    assert bwrap._outermost(needed) == [
        pyenv, f"{venv}-b", f"{venv}/bin", f"{venv}/lib/python3.11/site-packages"
    ]  # fmt: skip


def test_the_hook_cannot_be_switched_off_from_python() -> None:
    """The second layer alone (weak mode): replacing the hook's code or defaults is refused."""
    hook_only = Sandbox(FAST, cache_size=0, force_weak=True)
    for attribute, value in (("__code__", "(lambda *a: None).__code__"), ("__defaults__", "()")):
        program = (
            "import gc, os\n"
            "hooks = [f for f in gc.get_objects() if getattr(f, '__name__', '') == 'hook']\n"
            f"for f in hooks:\n    f.{attribute} = {value}\n"
            "os.system('true')\n"
        )
        result = hook_only.run(program)
        assert not result.passed and "refused changing its own hook" in result.detail, result


# ---------------------------------------------------------------------------------------------
# Where no OS-level isolation exists: one line, exit 2, and a flag that accepts weaker isolation.


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSGB_BWRAP", "/nonexistent/bwrap")
    monkeypatch.delenv("TTSGB_SANDBOX", raising=False)


def test_without_os_isolation_running_untrusted_code_is_refused(no_bwrap: None) -> None:
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox(FAST)
    message = str(info.value)
    assert "\n" not in message and "TTSGB_SANDBOX=weak" in message and "bwrap" in message
    assert info.value.exit_code == 2  # a ConfigError: the CLI prints it on one line, exit 2


def test_the_refusal_is_one_line_and_exit_2_from_a_command(no_bwrap: None) -> None:
    code = (
        "import sys\n"
        "from suite.core.errors import SuiteError, one_line\n"
        "from suite.data.sandbox import Sandbox\n"
        "try:\n    Sandbox()\n"
        "except SuiteError as exc:\n    print(one_line(exc), file=sys.stderr)\n"
        "    sys.exit(exc.exit_code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: refusing to run untrusted code"), proc.stderr


def test_weak_isolation_only_when_accepted(no_bwrap: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSGB_SANDBOX", "weak")
    weak = Sandbox(FAST, cache_size=0)
    assert weak.isolation == "weak" and weak.guarantees()["isolation"] == "weak"
    assert weak.run("assert 1 + 1 == 2").passed
    assert "refused os.fork" in weak.run("import os\nos.fork()").detail
    monkeypatch.setenv("TTSGB_SANDBOX", "off")
    with pytest.raises(ConfigError, match="TTSGB_SANDBOX"):
        Sandbox(FAST)


def test_the_seccomp_filter_is_active() -> None:
    """Without the hook, the kernel itself refuses new processes and sockets (threads start)."""
    bare = _os_sandbox(audit_hook=False, cache_size=0)
    if bare.isolation != "bwrap+seccomp":
        pytest.skip(f"no seccomp filter here ({bare.isolation})")
    program = (
        "import os, socket, threading\n"
        "assert 'Seccomp:\\t2' in open('/proc/self/status').read()\n"
        "for call in (os.fork, lambda: socket.socket(), lambda: os.unshare(0x10000000)):\n"
        "    try:\n        call()\n    except (PermissionError, AttributeError):\n        pass\n"
        "    else:\n        raise SystemExit('not refused')\n"
        "t = threading.Thread(target=print)\nt.start()\nt.join()\n"
    )
    assert bare.run(program).passed


def test_the_seccomp_filter_is_well_formed() -> None:
    if not seccomp.supported():
        pytest.skip("no seccomp table for this architecture")
    program = seccomp.program()
    assert len(program) % 8 == 0 and len(program) // 8 < 256
    assert "ptrace" in seccomp.refused_calls() and "mount" in seccomp.refused_calls()
