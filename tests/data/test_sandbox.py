"""The sandbox: hostile programs score 0 and leave the test process, its files and the machine
as they were; a batch runs in parallel. Limits are small so that the whole file takes seconds."""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from suite.data import sandbox
from suite.data.sandbox import Limits, Sandbox

FAST = Limits(cpu_s=1, wall_s=3.0, memory_bytes=512 << 20, file_bytes=1 << 20)
# A busy loop must meet its 1 CPU second before the wall clock, even on cores that other
# processes share (under load it gets a fraction of a core): a wide wall-clock margin.
CPU_BOUND = replace(FAST, wall_s=30.0)


@pytest.fixture(scope="module")
def box() -> Sandbox:
    return Sandbox(FAST, cache_size=0)


@pytest.fixture(scope="module")
def cpu_box() -> Sandbox:
    return Sandbox(CPU_BOUND, cache_size=0)


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
    program = (
        "import os\n"
        f"assert os.getcwd().startswith({str(own_temp / 'tgb-sandbox-')!r})\n"
        "open('notes.txt', 'w').write('hi')\nassert open('notes.txt').read() == 'hi'"
    )
    assert box.run(program).passed
    assert not list(own_temp.glob("tgb-sandbox-*"))


@pytest.mark.slow
def test_the_wall_clock_limit_kills_the_whole_group(box: Sandbox, own_temp: Path) -> None:
    marker = "tgb-sleeper-marker"
    start = time.perf_counter()
    result = box.run(f"import time\n# {marker}\ntime.sleep(60)")
    assert result.status == "timeout" and time.perf_counter() - start < FAST.wall_s + 2
    time.sleep(0.2)
    assert not _processes_mentioning(str(own_temp)), "a sandboxed process outlived its run"


def test_a_batch_runs_in_parallel_up_to_the_core_count() -> None:
    assert Sandbox().workers == (os.cpu_count() or 1)
    four = Sandbox(FAST, workers=4, cache_size=0)
    start = time.perf_counter()
    results = four.run_many(["import time\ntime.sleep(1)\nassert True"] * 4)
    assert all(r.passed for r in results)
    assert time.perf_counter() - start < 3.0  # four one-second sleeps at once, not in a row


def test_results_keep_order_and_repeats_are_cached() -> None:
    box = Sandbox(FAST)
    programs = ["assert True", "assert False", "assert True"]
    assert [r.passed for r in box.run_many(programs)] == [True, False, True]
    start = time.perf_counter()
    assert [r.passed for r in box.run_many(programs)] == [True, False, True]
    assert time.perf_counter() - start < 0.05  # answered from the cache


def test_guarantees_say_what_is_enforced(box: Sandbox) -> None:
    facts = box.guarantees()
    assert facts["separate_process"] and facts["audit_hook"]
    assert facts["wall_timeout_kills_process_group"] and facts["temporary_working_folder"]
    if os.geteuid() == 0 and not facts["runs_as_nobody"]:
        assert not facts["fork_limit_by_kernel"]  # root ignores RLIMIT_NPROC


@pytest.mark.slow
def test_without_the_audit_hook_the_kernel_still_limits(tmp_path: Path) -> None:
    """The layers below the hook: rlimits always, the network namespace where available."""
    bare = Sandbox(CPU_BOUND, audit_hook=False, cache_size=0)
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


def test_the_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(sandbox.__file__).read_text())
    modules = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules
