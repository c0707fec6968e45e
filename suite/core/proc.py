"""Worker processes that never outlive the process that forked them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Ask the kernel to send SIGTERM to this worker when its parent ends (Linux only).

    Pass as a process pool's ``initializer`` with ``initargs=(os.getpid(),)``: a killed parent
    (``kill``, Ctrl-C, CI cancellation) then leaves no orphaned worker holding memory.

    Args:
        parent: The forking process's pid; if it is already gone, the worker exits at once.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)
