"""What the data cache and its builders share: where data sets live, Built, the retry hint.

:mod:`suite.data.cache` (the cache, its registry and the MMLU builder) and
:mod:`suite.data.sources` (the other builders) both import it, so neither imports the other back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.core.errors import DataError
from suite.core.io import cache_dir


@dataclass(frozen=True)
class Built:
    """What a builder returns: the rows in their final order and where they came from.

    Attributes:
        rows: One JSON object per question.
        source: Where the rows came from, in words (package and version, Hub id, user file).
        version: The source's version (the schema number is appended by
            :func:`suite.data.cache.prepare`).
    """

    rows: list[dict[str, Any]] = field(repr=False)
    source: str
    version: str


def data_dir() -> Path:
    """Return the folder holding one subfolder per prepared data set."""
    return cache_dir() / "data"


def retry_hint(name: str) -> str:
    """Return the command that (re)builds a data set."""
    return f"python -m suite.data prepare {name}"


def failed(what: str, name: str = "mmlu") -> DataError:
    """Return a one-line DataError saying what failed and the command that retries it."""
    return DataError(f"{what}; retry: {retry_hint(name)}")


def corrupt(path: Path, number: int, why: str, name: str) -> DataError:
    """Return the DataError for a bad line of a JSONL file, with the command that rebuilds it."""
    return failed(f"corrupt {path} at line {number} ({why})", name)
