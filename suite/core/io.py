"""Files on disk, one copy of each rule: atomic writes and the suite's cache folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from suite.core.errors import StorageError


def cache_dir() -> Path:
    """Return the suite's cache folder: ``$TTSGB_CACHE_DIR``, else ``~/.cache/tts-graph-bench``."""
    env = os.environ.get("TTSGB_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tts-graph-bench"


def storage_error(path: Path, exc: OSError) -> StorageError:
    """The one-line error for a file the suite cannot write (full disk, read-only folder)."""
    return StorageError(
        f"cannot write {path} ({exc.strerror or exc}); free space or pass "
        "results_dir=<another folder>, then rerun the same command to resume"
    )


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write a file (text as UTF-8, or bytes) via a temporary file in the same folder and a rename.

    Raises:
        StorageError: when the disk is full or the folder is not writable; the old file, if
            any, is left as it was.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise storage_error(path, exc) from exc
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 less umask).
        # umask can only be read by setting it: set a safe value for that instant, then restore.
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        data = text.encode("utf-8") if isinstance(text, str) else text
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise storage_error(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
