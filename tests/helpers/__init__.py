"""Helpers shared by the tests: the suite's commands in a fresh interpreter, process groups,
small search spaces and pools. Fixtures built on them live in tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from suite.backends.base import BackendEnv
from suite.config import CONF_DIR, build_space
from suite.core.cost import ModelSpec, TokenProfile
from suite.core.space import GraphSpace

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
MMLU_TOKENS = TokenProfile(213, 215)  # mmlu's token averages (suite/conf/task/mmlu.yaml)


def cache_with_data(tmp_path: Path) -> Path:
    """A fresh suite cache folder under ``tmp_path`` sharing the prepared data sets (a symlink)."""
    from suite.core.io import cache_dir

    home = tmp_path / "cache"
    home.mkdir()
    (home / "data").symlink_to(cache_dir() / "data")
    return home


def offline_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, read now (so monkeypatched variables count), kept offline."""
    return {**os.environ, **OFFLINE, **(extra or {})}


def run_cli(
    module: str,
    *args: object,
    cwd: Path | str = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``python -m <module> *args`` in a fresh interpreter; output captured as text.

    ``env`` adds variables to :func:`offline_env`. Runs from the repository root unless told.
    """
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=offline_env(env),
        timeout=timeout,
    )


def start_cli(
    module: str, *args: object, cwd: Path | str = ROOT, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m <module> *args`` without waiting; stdout and stderr are pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=offline_env(env),
    )


def group_alive(pgid: int, wait_s: float = 10.0, poll_s: float = 0.2) -> bool:
    """True while any process (zombies aside) of process group ``pgid`` exists after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(stat.parent.name)
        if not alive or time.monotonic() > deadline:
            return bool(alive)
        time.sleep(poll_s)


def pool(name: str) -> dict[str, Any]:
    """A model pool as its YAML file in suite/conf/pool/ spells it."""
    data: dict[str, Any] = yaml.safe_load((CONF_DIR / "pool" / f"{name}.yaml").read_text())
    return data


def tiny_space() -> GraphSpace:
    """Two made-up models ("s" 1 unit, "b" 2 units, final "b") and a 3-unit budget on mmlu."""
    small = ModelSpec("s", 1e9, 16, 2048, 0, 1)
    big = ModelSpec("b", 3e9, 28, 3072, 1, 2)
    return GraphSpace("mmlu", (small, big), "b", 3, MMLU_TOKENS)


def backend_env(pool_cfg: Mapping[str, Any], units: int = 3) -> BackendEnv:
    """What a backend is created with, for a pool on mmlu with a ``units`` budget."""
    space = build_space(pool_cfg, "mmlu", MMLU_TOKENS, units)
    return BackendEnv(
        "mmlu", str(pool_cfg["name"]), space, None, lambda d: None, pool_cfg["models"]
    )
