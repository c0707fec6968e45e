"""Command-line plumbing shared by the entry points: override checks, composing, error exits.

User errors become one line on stderr and exit code 2, before Hydra can print a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from suite.config import CONF_DIR, GROUPS, did_you_mean, group_options
from suite.core.errors import ConfigError, SuiteError, one_line
from suite.engine.results import check_writable

# +experiment/launcher=<preset>: Hydra's launcher config it selects, and how to install it.
LAUNCHER_CONFIGS = {"slurm": "submitit_slurm"}
LAUNCHER_INSTALL = {
    "ray": 'pip install -e ".[ray]"',
    "joblib": "pip install hydra-joblib-launcher",
    "submitit_local": "pip install hydra-submitit-launcher",
    "slurm": "pip install hydra-submitit-launcher",
}
TOP_KEYS = ("seed", "n_iterations", "batch_size", "test_n", "results_dir", "resume")


def quiet_environment() -> None:
    """Offline Hugging Face settings and quiet libraries, for every entry point."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def check_overrides(overrides: Sequence[str], extra_keys: Sequence[str] = ()) -> None:
    """Reject malformed overrides, unknown keys and unknown group options with one line.

    Raises:
        ConfigError: naming the bad override and the closest valid names.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"malformed override: {first}; write key=value, e.g. seed=1") from exc
    for ov in parsed:
        key = ov.key_or_group
        root = key.split(".")[0].lstrip("+~")
        if root == "hydra" or root.startswith(("hydra/", "experiment")):
            continue
        known = [*TOP_KEYS, *GROUPS, *extra_keys]
        if root not in known:
            raise ConfigError(f"unknown config key '{key}'; {did_you_mean(root, known)}")
        if key in GROUPS and not ov.is_delete():
            values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [ov.value()]
            for value in values:
                if str(value) not in group_options(key):
                    raise ConfigError(
                        f"unknown {key} '{value}'; {did_you_mean(str(value), group_options(key))}"
                    )
        elif root in GROUPS and not key.startswith("+"):
            _check_group_key(key, _chosen(parsed, root))


def _chosen(parsed: Sequence[Any], group: str) -> str:
    """The option a group will use: the last plain override of it, else the default."""
    for ov in reversed(parsed):
        if ov.key_or_group == group and not ov.is_sweep_override():
            return str(ov.value())
    defaults = yaml.safe_load((CONF_DIR / "config.yaml").read_text())["defaults"]
    return str(next(d[group] for d in defaults if isinstance(d, dict) and group in d))


def _check_group_key(key: str, option: str) -> None:
    """Reject ``group.key=value`` when the group's option has no such key (use ``+`` to add)."""
    group, *path = key.split(".")
    node: Any = yaml.safe_load((CONF_DIR / group / f"{option}.yaml").read_text())
    for part in path:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        if not isinstance(node, dict) or part not in node:
            choices = sorted(node) if isinstance(node, dict) else []
            raise ConfigError(
                f"unknown config key '{key}' ({group}={option} has no '{part}'); "
                f"{did_you_mean(part, choices)}"
            )
        node = node[part]


def results_dir_of(overrides: Sequence[str]) -> Path:
    """The results folder an invocation will write to (``results`` unless overridden)."""
    for ov in overrides:
        if ov.split("=", 1)[0].lstrip("+") == "results_dir" and "=" in ov:
            return Path(ov.split("=", 1)[1])
    return Path("results")


def compose(overrides: Sequence[str]) -> dict[str, Any]:
    """Compose the config tree with overrides (no run folder) into a resolved plain dict."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        data = OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(" ".join(str(exc).split())) from exc
    if not isinstance(data, dict):
        raise ConfigError("the composed config is not a mapping")
    data.pop("hydra", None)
    return {str(k): v for k, v in data.items()}


def check_hydra_overrides(overrides: Sequence[str]) -> None:
    """Check ``hydra.*`` and ``hydra/<group>`` overrides by composing Hydra's own config.

    The experiment presets come along (they may select a launcher), so a bad override is one
    line here instead of Hydra's multi-line report later.

    Raises:
        ConfigError: naming the override Hydra refused.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    def root(ov: str) -> str:
        return ov.split("=", 1)[0].lstrip("+~").split(".")[0].split("/")[0]

    hydra_ovs = [o for o in overrides if root(o) == "hydra" and "=" in o]
    presets = [o for o in overrides if root(o) == "experiment" and "," not in o]
    picks_launcher = any(o.lstrip("+").startswith("experiment/launcher") for o in presets)
    if not hydra_ovs and not picks_launcher:
        return
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            hydra_compose(
                config_name="config", overrides=[*presets, *hydra_ovs], return_hydra_config=True
            )
    except (HydraException, OmegaConfBaseException) as exc:
        skip = ("full_key", "object_type", "reference_type", "To append")
        text = f"{exc}\n{exc.__cause__ or ''}".split("Config search path")[0]
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        why = " ".join(ln for ln in lines if not ln.startswith(skip))
        for name, install in LAUNCHER_INSTALL.items():
            if f"'hydra/launcher/{LAUNCHER_CONFIGS.get(name, name)}'" in why:
                raise ConfigError(f"the {name} launcher is not installed; {install}") from exc
        raise ConfigError(
            f"bad Hydra override: {why}; see python -m suite.run --hydra-help"
        ) from exc


def guarded(body: Callable[[], int]) -> int:
    """Run an entry point; SuiteErrors print one line on stderr and return their exit code."""
    try:
        return body()
    except SuiteError as exc:
        print(one_line(exc), file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130


def preflight(overrides: Sequence[str]) -> None:
    """Everything checkable before Hydra starts: overrides and the results folder."""
    check_overrides(overrides)
    check_hydra_overrides(overrides)
    if not any(o in ("--help", "-h", "--cfg", "-c", "--info") for o in overrides):
        check_writable(results_dir_of(overrides))
