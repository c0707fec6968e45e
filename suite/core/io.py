"""Files on disk, one copy of each rule: atomic writes, file hashes, JSONL, the cache folder."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite.core.errors import StorageError

RESULTS_FIX = (
    "free space or pass results_dir=<another folder>, then rerun the same command to resume"
)


def cache_dir() -> Path:
    """Return the suite's cache folder: ``$TTSGB_CACHE_DIR``, else ``~/.cache/tts-graph-bench``."""
    env = os.environ.get("TTSGB_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tts-graph-bench"


def storage_error(path: Path, exc: OSError, fix: str = RESULTS_FIX) -> StorageError:
    """The one-line error for a file the suite cannot write (full disk, read-only folder).

    Args:
        path: The file that could not be written.
        exc: The operating system's error.
        fix: What the user can do about it (default: the results folder's remedy).
    """
    return StorageError(f"cannot write {path} ({exc.strerror or exc}); {fix}")


def write_atomic(
    path: Path, text: str | bytes, *, mode: int | None = None, fix: str = RESULTS_FIX
) -> None:
    """Write a file (text as UTF-8, or bytes) via a temporary file in the same folder and a rename.

    Args:
        path: The file to write; its folder must exist.
        text: The whole content.
        mode: Permission bits of the new file; None gives what a plain open() would (0666
            less the umask).
        fix: The remedy a :class:`StorageError` names.

    Raises:
        StorageError: when the disk is full or the folder is not writable; the old file, if
            any, is left as it was.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise storage_error(path, exc, fix) from exc
    try:
        if mode is None:
            # mkstemp creates 0600; give the file the mode a plain open() would (0666 less
            # umask). umask can only be read by setting it: set it for that instant, then restore.
            umask = os.umask(0o022)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        data = text.encode("utf-8") if isinstance(text, str) else text
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise storage_error(path, exc, fix) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """Return the SHA-256 of a file's bytes as hex (read in blocks, never whole)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class JsonlLine:
    """One non-blank line of a JSONL text: its 1-based number, its text and its parsed value."""

    number: int
    text: str
    value: Any


class JsonlError(ValueError):
    """A JSONL line that is not JSON; ``number`` and ``why`` let the caller name file and fix."""

    def __init__(self, number: int, why: str) -> None:
        super().__init__(f"line {number}: {why}")
        self.number = number
        self.why = why


def iter_jsonl(text: str) -> Iterator[JsonlLine]:
    """Parse JSONL text lazily, one :class:`JsonlLine` per non-blank line, in file order.

    Lines are split at line feeds only: ``str.splitlines()`` also splits at U+0085, U+2028 and
    others, which a JSON string may hold unescaped. Being lazy, a caller that stops early
    never parses what follows (a torn last line, say).

    Raises:
        JsonlError: at the first line that is not valid JSON.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JsonlError(number, exc.msg) from exc
        yield JsonlLine(number, line, value)


def read_jsonl_prefix(path: Path, limit: int | None = None) -> list[JsonlLine]:
    """The valid lines at the start of a JSONL file, at most ``limit`` of them.

    Reading stops at the first line that is not UTF-8 JSON (a torn, damaged or binary line), so
    nothing after it is trusted; a missing or unreadable file has no valid lines. Lines are
    split at line feeds as in :func:`iter_jsonl`.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return []
    out: list[JsonlLine] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if limit is not None and len(out) >= limit:
            break
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            value = json.loads(text)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep
            break
        out.append(JsonlLine(number, text, value))
    return out
