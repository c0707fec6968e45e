"""Command-line plumbing shared by the entry points: override checks, composing, error exits.

User errors, a schema's refusals included, become one line on stderr and exit code 2, before
Hydra can print its own multi-line report or a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from suite.config import CONF_DIR, GROUPS, RENAMED_OPTIONS, group_options, schema, unknown_option
from suite.core.errors import ConfigError, SuiteError, did_you_mean, one_line
from suite.engine.results import check_writable

# +experiment/launcher=<preset>: Hydra's launcher config it selects, and how to install it.
LAUNCHER_CONFIGS = {"slurm": "submitit_slurm"}
LAUNCHER_INSTALL = {
    "ray": 'pip install -e ".[ray]"',
    "joblib": "pip install hydra-joblib-launcher",
    "submitit_local": "pip install hydra-submitit-launcher",
    "slurm": "pip install hydra-submitit-launcher",
}
KINDS: dict[Any, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
}


def quiet_environment() -> None:
    """Offline Hugging Face settings and quiet libraries, for every entry point."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def emit(text: str) -> None:
    """Print ``text`` on stdout; a reader that stops early (``| head``) ends it quietly."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        stdout_closed()


def stdout_closed() -> None:
    """Point stdout at /dev/null once its reader has gone, so Python's flush at exit is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test's capture): nothing flushes it
        pass


def arguments(argv: Sequence[str] | None, usage: str, doc: str | None) -> list[str] | None:
    """The command's arguments, or None after printing its help (``-h``/``--help``).

    Also quiets the environment (:func:`quiet_environment`), which every entry point needs.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        emit(f"usage: {usage}\n\n{doc}")
        return None
    quiet_environment()
    return args


def check_overrides(overrides: Sequence[str]) -> list[Any]:
    """Reject malformed overrides and unknown group options with one line; returns them parsed.

    Keys and values are the schemas' business when the config composes (:func:`compose`). The
    schemas are stored in Hydra's ConfigStore here, so any compose after this call uses them.

    Raises:
        ConfigError: naming the bad override and the closest valid names.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    schema.register()
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"malformed override: {first}; write key=value, e.g. seed=1") from exc
    for ov in parsed:
        key = ov.key_or_group
        if key in GROUPS and not ov.is_delete():
            values = list(ov.sweep_string_iterator()) if ov.is_sweep_override() else [ov.value()]
            for value in values:
                if str(value) not in group_options(key):
                    raise ConfigError(unknown_option(key, str(value)))
    return list(parsed)


def _sweep_cases(parsed: Sequence[Any]) -> list[list[str]]:
    """Override lists that use every value of every sweep once (not every combination).

    Empty when a sweep cannot be listed (an ``interval`` for a sweeper plugin): its jobs are
    then checked as Hydra composes them.
    """
    from hydra.errors import HydraException

    choices = []
    for ov in parsed:
        if not ov.is_sweep_override():
            choices.append([str(ov.input_line)])
            continue
        try:
            values = list(ov.sweep_string_iterator())
        except HydraException:
            return []
        choices.append([f"{ov.get_key_element()}={value}" for value in values])
    first = [values[0] for values in choices]
    cases = [first]
    for k, values in enumerate(choices):
        cases += [[*first[:k], value, *first[k + 1 :]] for value in values[1:]]
    return cases


def results_dir_of(overrides: Sequence[str]) -> Path:
    """The results folder an invocation will write to (``results`` unless overridden)."""
    for ov in overrides:
        if ov.split("=", 1)[0].lstrip("+") == "results_dir" and "=" in ov:
            return Path(ov.split("=", 1)[1])
    return Path("results")


def compose(overrides: Sequence[str]) -> dict[str, Any]:
    """Compose the config tree with overrides (no run folder) into a resolved plain dict.

    Raises:
        ConfigError: in one line, for anything Hydra or a schema refuses.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    schema.register()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise config_error(exc, overrides) from exc
    return resolved(cfg, overrides)


def resolved(cfg: Any, overrides: Sequence[str]) -> dict[str, Any]:
    """A composed config (Hydra's node aside) as a resolved plain dict.

    Checked as :func:`compose` checks it: no keys beside a schema's, no missing values.

    Raises:
        ConfigError: in one line, for anything a schema refuses.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        _no_added_keys(cfg, "")
        data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        raise config_error(exc, overrides) from exc
    if not isinstance(data, dict):
        raise ConfigError("the composed config is not a mapping")
    data.pop("hydra", None)
    return {str(k): v for k, v in data.items()}


def config_error(exc: BaseException, overrides: Sequence[str]) -> ConfigError:
    """One line for an error Hydra or OmegaConf raised while composing ``overrides``."""
    return _missing_option(exc) or _preset_conflict(exc, overrides) or _schema_error(exc)


def _missing_option(exc: BaseException) -> ConfigError | None:
    """One line for a group option a defaults list names that does not exist, or None.

    The command line's options were checked already (:func:`check_overrides`), so the name
    comes from a preset's ``override /<group>: <option>``; Hydra's report would list its
    search path.
    """
    from hydra.errors import MissingConfigException

    if not isinstance(exc, MissingConfigException):
        return None
    group, _, name = str(exc.missing_cfg_file or "").partition("/")
    if group not in GROUPS or not name or "/" in name:
        return None
    renamed = RENAMED_OPTIONS.get((group, name))
    if renamed is not None:
        new, why = renamed
        return ConfigError(
            f"a preset's defaults list names {group} '{name}', which is now '{new}' ({why}); "
            f"write override /{group}: {new}"
        )
    return ConfigError(f"in a preset's defaults list: {unknown_option(group, name)}")


def _preset_conflict(exc: BaseException, overrides: Sequence[str]) -> ConfigError | None:
    """One line when a preset's settings fail because the command line chose another option.

    ``+experiment=paper_tpe searcher=random``: the preset selects ``searcher=optuna_tpe`` and
    sets its options; the command line's choice wins in Hydra, and random has no such options.
    """
    found = re.match(r"In 'experiment/(\w+)'", str(exc))
    if found is None:
        return None
    preset = found.group(1)
    try:
        text = (CONF_DIR / "experiment" / f"{preset}.yaml").read_text(encoding="utf-8")
        defaults = yaml.safe_load(text).get("defaults") or []
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return None
    chosen = {}
    for ov in overrides:
        key, _, value = ov.lstrip("+~").partition("=")
        if key in GROUPS and value:
            chosen[key] = value
    for entry in defaults:
        for left, option in entry.items() if isinstance(entry, dict) else ():
            group = str(left).removeprefix("override").strip().lstrip("/")
            if group in chosen and chosen[group] != str(option):
                return ConfigError(
                    f"+experiment={preset} selects {group}={option} and sets its options, "
                    f"which {group}={chosen[group]} does not take; drop {group}={chosen[group]} "
                    "or the preset"
                )
    return None


def _no_added_keys(node: Any, path: str) -> None:
    """Reject keys that ``+key=value`` added beside a schema's own (Hydra lets ``+`` add them)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if not isinstance(node, DictConfig | ListConfig):
        return
    if node._is_none() or node._is_missing() or node._is_interpolation():  # no keys to check
        return
    if isinstance(node, ListConfig):
        for k, item in enumerate(node):
            _no_added_keys(item, f"{path}{k}.")
        return
    shape = OmegaConf.get_type(node)
    allowed = [f.name for f in dataclasses.fields(shape)] if dataclasses.is_dataclass(shape) else []
    for key, value in node.items_ex(resolve=False):
        name = str(key)
        if path == "" and name == "hydra":
            continue
        if allowed and name not in allowed:
            raise ConfigError(_unknown_key(f"{path}{name}", allowed, node))
        _no_added_keys(value, f"{path}{name}.")


def _unknown_key(key: str, choices: Sequence[str], node: Any) -> str:
    """``unknown config key 'searcher.x' (searcher=random has no 'x'); did you mean ...?``."""
    group, _, rest = key.partition(".")
    leaf = key.rsplit(".", 1)[-1]
    where = ""
    if group in GROUPS and rest == leaf and "name" in node:
        where = f" ({group}={node['name']} has no '{leaf}')"
    return f"unknown config key '{key}'{where}; {did_you_mean(leaf, sorted(choices))}"


def _schema_error(exc: BaseException) -> ConfigError:
    """One line for what composing refused: a wrong type, an unknown key, a missing value."""
    from omegaconf import DictConfig
    from omegaconf.errors import (
        ConfigAttributeError,
        ConfigKeyError,
        MissingMandatoryValue,
        OmegaConfBaseException,
        ValidationError,
    )

    found: BaseException | None = exc
    while found is not None and not (
        isinstance(found, OmegaConfBaseException) and getattr(found, "full_key", None)
    ):
        found = found.__cause__
    if not isinstance(found, OmegaConfBaseException):
        return ConfigError(" ".join(str(exc).split()))
    key = re.sub(r"\[(\d+)\]", r".\1", str(found.full_key))  # models[0].x -> models.0.x
    if isinstance(found, ConfigAttributeError | ConfigKeyError):
        owner, parent = found.object_type, found.parent_node
        if dataclasses.is_dataclass(owner):
            choices = [f.name for f in dataclasses.fields(owner)]
        else:
            choices = [str(k) for k in parent] if isinstance(parent, DictConfig) else []
        return ConfigError(_unknown_key(key, choices, parent if parent is not None else {}))
    if isinstance(found, MissingMandatoryValue):
        return ConfigError(f"{key} has no value; set it in its YAML file or with {key}=...")
    kind = KINDS.get(_expected_type(found)) if isinstance(found, ValidationError) else None
    if kind is None:
        why = str(found).strip().splitlines()[0]
        return ConfigError(f"bad value for {key}: {why}")
    head, _, leaf = key.rpartition(".")
    if head.rpartition(".")[2].isdigit():  # an entry of a list, e.g. one model of a pool
        return ConfigError(f"{head} is malformed: {leaf} must be {kind}, got {found.value!r}")
    example = f"; e.g. {key}=3" if kind == KINDS[int] else ""
    return ConfigError(f"{key} must be {kind}, got {found.value!r}{example}")


def _expected_type(exc: Any) -> Any:
    """The type a schema wants where ``exc`` happened (Optional unwrapped), or None."""
    owner = exc.object_type
    if dataclasses.is_dataclass(owner):
        wanted = typing.get_type_hints(owner).get(str(exc.key))
    else:  # an entry of a typed mapping or list, e.g. units: dict[str, int]
        args = typing.get_args(exc.ref_type)
        wanted = args[-1] if args else None
    options = [a for a in typing.get_args(wanted) if a is not type(None)]
    return options[0] if len(options) == 1 else wanted


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
    schema.register()
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
    except BrokenPipeError:  # stdout's reader stopped early (``| head``): not an error to show
        stdout_closed()
        return 141  # as a shell reports a command ended by SIGPIPE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130


def preflight(overrides: Sequence[str], compose_cases: bool = True) -> None:
    """Everything checkable before Hydra starts: overrides, the configs they compose, the folder.

    Composing here turns a schema's refusal into one line before a sweep starts; a sweep
    composes once per swept value, not per combination. A single run (``compose_cases``
    False) is not composed here: Hydra composes it anyway, and its errors become the same
    one line (:func:`config_error`, :func:`resolved`), which saves one composition per run.
    """
    parsed = check_overrides(overrides)
    check_hydra_overrides(overrides)
    for case in _sweep_cases(parsed) if compose_cases else ():
        compose(case)
    if not any(o in ("--help", "-h", "--cfg", "-c", "--info") for o in overrides):
        check_writable(results_dir_of(overrides))
