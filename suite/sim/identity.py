"""What a simulated world is made of, as one digest: caches of sim measurements key on it.

A pilot (or anything else measured on the ``sim`` backend and kept) is only valid for the world
it was measured in: the pool's profile file and the code that turns a profile into answers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from suite.core.resources import package_path

WORLD_VERSION = 1
"""Bump when the simulated world answers differently for a reason this digest cannot see (a
change outside :data:`WORLD_CODE`, such as a new answer-text rule in the prompts)."""

WORLD_CODE = ("sim/world.py", "sim/answers.py", "backends/sim.py")
"""The modules (paths inside ``suite``) that decide a sim answer: the world, the distractor
texts, the backend that maps calls onto the world. Their bytes are part of the digest, so an
edit to them (a refit of the world, a new call signature) never reuses a measurement of the old
world; it costs one re-measured sim pilot (seconds), which is cheaper than remembering."""


def world_digest(profile: str, root: Path | None = None) -> str:
    """Short digest of the world of one profile: its file's bytes, the world code, the version.

    Args:
        profile: The profile's name (``backend.profile``, else the pool's name).
        root: The ``suite`` package folder to read from (tests point it at a copy).

    Returns:
        16 hex digits; ``"missing"`` when ``suite/sim/<profile>.yaml`` does not exist (the
        backend then refuses to start, naming the known profiles, so nothing is measured).
    """
    root = package_path("suite") if root is None else root
    h = hashlib.sha256(f"world-version {WORLD_VERSION}\n".encode())
    try:
        h.update((root / "sim" / f"{profile}.yaml").read_bytes())
    except FileNotFoundError:
        return "missing"
    for name in WORLD_CODE:
        h.update(f"\n{name}\n".encode())
        h.update((root / name).read_bytes())
    return h.hexdigest()[:16]
