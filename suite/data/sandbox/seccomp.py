"""The sandbox's seccomp filter: a classic-BPF program, built here, that bubblewrap loads.

It refuses the system calls a HumanEval program never needs and an escape would: new processes,
namespaces, mounts, ptrace, kernel keyrings, BPF, io_uring, modules and sockets.
"""

from __future__ import annotations

import errno
import platform
import struct

# <linux/audit.h> architecture tags and <linux/seccomp.h> return values.
_ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000  # x86_64 syscalls of the x32 ABI: refused whole
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_CLONE_THREAD = 0x00010000
# <linux/filter.h> opcodes: load a word of seccomp_data, compare, return.
_LD_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (little endian)

# name: (x86_64, aarch64), from <asm/unistd_64.h> and <asm-generic/unistd.h>; None: no such call.
_REFUSED: dict[str, tuple[int | None, int | None]] = {
    "fork": (57, None), "vfork": (58, None), "ptrace": (101, 117),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271), "kcmp": (312, 272),
    "pidfd_getfd": (438, 438), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "chroot": (161, 51), "unshare": (272, 97), "setns": (308, 268),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "mount_setattr": (442, 442), "bpf": (321, 280), "perf_event_open": (298, 241),
    "userfaultfd": (323, 282), "keyctl": (250, 219), "add_key": (248, 217),
    "request_key": (249, 218), "io_uring_setup": (425, 425), "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427), "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "reboot": (169, 142), "swapon": (167, 224), "swapoff": (168, 225), "syslog": (103, 116),
    "acct": (163, 89), "quotactl": (179, 60), "socket": (41, 198), "socketpair": (53, 199),
    "personality": (135, 92), "name_to_handle_at": (303, 264),
    "open_by_handle_at": (304, 265), "fanotify_init": (300, 262), "iopl": (172, None),
    "ioperm": (173, None), "modify_ldt": (154, None), "uselib": (134, None),
}  # fmt: skip
_CLONE = (56, 220)
_CLONE3 = (435, 435)  # answered ENOSYS: glibc then falls back to clone(), which is checked


def machine() -> str | None:
    """The architecture this filter supports here (``x86_64`` or ``aarch64``), else None."""
    name = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name, name) if name else None


def supported() -> bool:
    """Whether a filter can be built for this machine's architecture."""
    return machine() in _ARCHES


def refused_calls() -> list[str]:
    """Names of the system calls the filter refuses on this machine (clone: unless a thread)."""
    column = 0 if machine() == "x86_64" else 1
    names = [name for name, nrs in _REFUSED.items() if nrs[column] is not None]
    return sorted([*names, "clone (new processes; threads are allowed)", "clone3"])


def program() -> bytes:
    """The filter as an array of ``struct sock_filter``, ready for ``bwrap --seccomp FD``.

    Layout: a wrong architecture (e.g. the i386 ABI on x86_64) kills the process; each refused
    call returns EPERM; ``clone`` without ``CLONE_THREAD`` returns EPERM (threads still start);
    ``clone3`` returns ENOSYS; everything else is allowed.

    Raises:
        ValueError: The architecture has no syscall table here (see :func:`supported`).
    """
    arch = machine()
    if arch not in _ARCHES:
        raise ValueError(f"no seccomp table for architecture {arch!r}")
    column = 0 if arch == "x86_64" else 1
    refused = [nrs[column] for nrs in _REFUSED.values() if nrs[column] is not None]
    # Tail, addressed from the end: [.. clone check (3)], allow, eperm, enosys, kill.
    tail = ["allow", "eperm", "enosys", "kill"]
    body: list[tuple[int, int, str | None, str | None]] = [  # (code, k, true, false)
        (_LD_ABS, _ARCH, None, None),
        (_JEQ, _ARCHES[arch], None, "kill"),
        (_LD_ABS, _NR, None, None),
    ]
    if arch == "x86_64":
        body.append((_JGE, _X32_BIT, "eperm", None))
    body += [(_JEQ, nr, "eperm", None) for nr in refused if nr is not None]
    body += [(_JEQ, _CLONE3[column], "enosys", None), (_JEQ, _CLONE[column], "clone", None)]
    body += [(_RET, _RET_ALLOW, None, None)]
    clone = [(_LD_ABS, _ARG0, None, None), (_JSET, _CLONE_THREAD, "allow", "eperm")]
    returns = {
        "allow": _RET_ALLOW,
        "eperm": _RET_ERRNO | errno.EPERM,
        "enosys": _RET_ERRNO | errno.ENOSYS,
        "kill": _RET_KILL_PROCESS,
    }
    code = body + clone + [(_RET, returns[name], None, None) for name in tail]
    where = {
        "clone": len(body),
        **{name: len(body) + len(clone) + i for i, name in enumerate(tail)},
    }
    return b"".join(_encode(i, op, where) for i, op in enumerate(code))


def _encode(
    index: int, op: tuple[int, int, str | None, str | None], where: dict[str, int]
) -> bytes:
    """One ``struct sock_filter``: jumps are relative to the next instruction (at most 255)."""
    code, k, true, false = op
    jt = 0 if true is None else where[true] - index - 1
    jf = 0 if false is None else where[false] - index - 1
    return struct.pack("=HBBI", code, jt, jf, k)
