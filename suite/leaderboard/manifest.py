"""Which files of an output folder a leaderboard build wrote: the manifest, and pruning by it.

A build lists every file it writes in ``manifest.json``; the next build into the same folder
removes the files the previous one listed and it no longer writes (a plot of a cell that is
gone), and nothing else: ABOUT.md, baselines or any other file it did not write stay.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from suite.core.io import write_atomic

MANIFEST = "manifest.json"
KEEP = ("ABOUT.md", MANIFEST)  # never removed, even if an edited manifest lists them


def previous(out: Path) -> list[str]:
    """The files the last build wrote into ``out`` (empty without a readable manifest)."""
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return [str(name) for name in data.get("files", [])]
    except (OSError, ValueError, AttributeError):
        return []


def prune(out: Path, old: Sequence[str], new: Sequence[str]) -> list[str]:
    """Remove the files of ``old`` not in ``new``; only plain files inside ``out``.

    Returns:
        The removed names, relative to ``out``.
    """
    root = out.resolve()
    removed = []
    for name in sorted(set(old) - set(new)):
        path = (out / name).resolve()
        if name in KEEP or not path.is_relative_to(root) or not path.is_file():
            continue
        path.unlink()
        removed.append(name)
    return removed


def write(out: Path, names: Sequence[str]) -> Path:
    """Record the files this build wrote (relative to ``out``) in ``out/manifest.json``."""
    body = {"generated_by": "python -m suite.leaderboard", "files": sorted(set(names))}
    path = out / MANIFEST
    write_atomic(path, json.dumps(body, indent=1) + "\n")
    return path
