"""TaskSnapshot: what a run reads from an lm-eval task besides its scorer, saved once per version.

Loading an lm-eval task imports ``datasets`` and lm-eval's task machinery: 0.72 s of a 1.46 s
cache replay of a small search, measured on the 2-core machine (2026-12-01). A snapshot holds
each question's rendered text (``doc_to_text``), its gold target (``doc_to_target``) and its row,
and the names the results record (metric, filter), so a run whose scores are all recorded
(``suite.engine.scores``) never imports lm-eval. :class:`suite.data.tasks.TaskAdapter` builds
the snapshot from the loaded task the first time and reads it afterwards; scoring a text no
record answers still loads the task, lazily.

The key covers what decides those values: lm-eval's and ``datasets``' versions, the task's
name, the bytes of every file in the task folder (YAML, ``utils.py``), the prepared data set's
SHA-256 and the data folder lm-eval is pointed at. Any change gives a new key, so a stale
snapshot is never read.
A snapshot is written atomically, and only if every row reads back from JSON unchanged and the
folder is writable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from suite.core.errors import StorageError
from suite.core.io import cache_dir, sha256_file, write_atomic

FORMAT = 1
"""Bump when the fields or their meaning change, so old snapshots are never misread."""


@dataclass(frozen=True)
class TaskSnapshot:
    """One lm-eval task's questions and scorer names, as the suite reads them.

    Attributes:
        key: The digest of the key material (see the module docstring).
        questions: ``doc_to_text`` of each eval doc, in lm-eval's order.
        targets: ``doc_to_target`` of each eval doc, as text.
        rows: Each eval doc as lm-eval gives it (after ``process_docs``).
        metric: The task's first metric (e.g. ``exact_match``).
        filter: The name of the task's first filter.
        until: The generation stop strings (answers are cut at the first).
        unsafe_code: Whether scoring runs model code (HumanEval).
        max_test_n: The entry's ``metadata.max_test_n`` cap, or None.
    """

    key: str
    questions: tuple[str, ...] = field(repr=False)
    targets: tuple[str, ...] = field(repr=False)
    rows: tuple[dict[str, Any], ...] = field(repr=False)
    metric: str
    filter: str
    until: tuple[str, ...]
    unsafe_code: bool
    max_test_n: int | None

    def to_json(self) -> dict[str, Any]:
        """The snapshot as one JSON object (with the format number)."""
        return {
            "format": FORMAT,
            "key": self.key,
            "metric": self.metric,
            "filter": self.filter,
            "until": list(self.until),
            "unsafe_code": self.unsafe_code,
            "max_test_n": self.max_test_n,
            "docs": [
                {"text": q, "target": t, "row": r}
                for q, t, r in zip(self.questions, self.targets, self.rows, strict=True)
            ],
        }


def _folder_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (caches and hidden files aside), by relative path."""
    return {
        str(path.relative_to(folder)): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.parts
        and not any(p.startswith(".") for p in path.relative_to(folder).parts)
    }


def key_of(lm_eval_task: str, include: Path, dataset_sha256: str, data_folder: Path) -> str:
    """The snapshot key: a digest of everything that decides the snapshot's values.

    Args:
        lm_eval_task: The task's name in the entry (``mmlu_graph``).
        include: The folder lm-eval indexes for the entry.
        dataset_sha256: The prepared data file's SHA-256.
        data_folder: The data folder lm-eval's ``metadata.data_dir`` points at.
    """
    material = {
        "format": FORMAT,
        "lm_eval": metadata.version("lm_eval"),
        "datasets": metadata.version("datasets"),  # it reads the rows and types their values
        "task": lm_eval_task,
        "files": _folder_digest(include),
        "dataset_sha256": dataset_sha256,
        "data_dir": str(data_folder),
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def path_of(name: str, key: str) -> Path:
    """``<suite cache folder>/tasks/<task name>-<key prefix>.json``."""
    return cache_dir() / "tasks" / f"{name}-{key[:24]}.json"


def load(path: Path, key: str) -> TaskSnapshot | None:
    """The snapshot in ``path`` if it is whole, of this format and of this key; else None.

    An unreadable or foreign file reads as absent: the caller rebuilds and overwrites it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["format"] != FORMAT or data["key"] != key:
            return None
        docs = data["docs"]
        cap = data["max_test_n"]
        return TaskSnapshot(
            key=key,
            questions=tuple(str(d["text"]) for d in docs),
            targets=tuple(str(d["target"]) for d in docs),
            rows=tuple(dict(d["row"]) for d in docs),
            metric=str(data["metric"]),
            filter=str(data["filter"]),
            until=tuple(str(s) for s in data["until"]),
            unsafe_code=bool(data["unsafe_code"]),
            max_test_n=int(cap) if cap is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def survives_json(rows: tuple[Mapping[str, Any], ...]) -> bool:
    """Whether every row reads back from JSON equal to itself (types included)."""
    for row in rows:
        try:
            back = json.loads(json.dumps(row))
        except (TypeError, ValueError):
            return False
        if back != row or _types(back) != _types(row):
            return False
    return True


def _types(value: Any) -> Any:
    """The value's shape with type names, so ``1`` and ``1.0`` or tuples and lists differ."""
    if isinstance(value, Mapping):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [type(value).__name__, [_types(v) for v in value]]
    return type(value).__name__


def save(snapshot: TaskSnapshot, path: Path) -> bool:
    """Write the snapshot atomically; whether it was written.

    Nothing is written if a row would not survive JSON, or if the folder cannot be written
    (a read-only shared cache): a snapshot only saves time, so the run goes on without one.
    """
    if not survives_json(snapshot.rows):
        return False
    text = json.dumps(snapshot.to_json(), ensure_ascii=False, separators=(",", ":"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except (OSError, StorageError):
        return False
    return True
