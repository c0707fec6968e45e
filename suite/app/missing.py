"""``python -m suite.missing +experiment=<preset>``: the cells of a sweep with no completed run.

Expands the preset's ``hydra.sweeper.params`` (and any ``key=a,b`` on the command line) the
way ``python -m suite.run -m`` does, and checks each cell the way a sweep's skip check does: a
``<results_dir>/<task>/<searcher>/*-s<seed>/final.json`` with ``status: completed`` and the
cell's config digest. Prints the missing cells; exit 0 when none is missing, 1 when some are,
2 on a bad command.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite import config
from suite.app import cli
from suite.config import CONF_DIR, schema
from suite.core.errors import ConfigError
from suite.engine.results import cell_runs

USAGE = "python -m suite.missing +experiment=<preset> [key=value ...] [key=a,b ...]"
_SUBSTITUTABLE = ("seed", "n_iterations", "batch_size", "test_n")  # plain top-level integers


@dataclass(frozen=True)
class Cell:
    """One cell of a sweep and what its results folder holds for it."""

    overrides: tuple[str, ...]  # the swept key=value pairs
    task: str
    searcher: str
    seed: int
    state: str  # "completed" | "missing" | "failed" | "interrupted" | "running" | ...
    detail: str = ""


def sweep_params(overrides: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Split overrides into plain ones and swept ``key -> values`` (preset params first)."""
    # Hydra is imported on use, for start-up time (``--help`` never needs it)
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(list(overrides))
    plain = [str(o.input_line) for o in parsed if not o.is_sweep_override()]
    params: dict[str, list[str]] = {}
    for key, value in _preset_params(plain).items():
        params[key] = _values(parser, f"{key}={value}")
    for o in parsed:
        if o.is_sweep_override():
            params[o.key_or_group] = [str(v) for v in o.sweep_string_iterator()]
        elif o.key_or_group in params:  # a plain value on the command line wins, as in Hydra
            params[o.key_or_group] = [str(o.value())]
    plain = [p for p in plain if p.split("=", 1)[0] not in params]
    return plain, params


def _values(parser: Any, line: str) -> list[str]:
    override = parser.parse_override(line)
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    return [str(override.value())]


def _preset_params(plain: Sequence[str]) -> dict[str, Any]:
    """``hydra.sweeper.params`` of the config the plain overrides compose."""
    # Hydra is imported on use, for start-up time (``--help`` never needs it)
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    schema.register()  # the YAML files name their schemas
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=list(plain), return_hydra_config=True)
    except HydraException as exc:
        raise ConfigError(" ".join(str(exc).split())) from exc
    raw = cfg.hydra.sweeper.params
    params = OmegaConf.to_container(raw) if raw is not None else {}  # None: no preset
    if not isinstance(params, dict):
        raise ConfigError("hydra.sweeper.params must be a mapping of key: values")
    return {str(k): v for k, v in params.items()}


def cells(overrides: Sequence[str]) -> tuple[Path, list[Cell]]:
    """Every cell of the sweep with its state; composes once per non-integer combination."""
    cli.check_overrides(overrides)
    plain, params = sweep_params(overrides)
    if not params:
        raise ConfigError(
            "no sweep given: pass the +experiment=<preset> or the key=a,b overrides of the sweep "
            f"you ran; usage: {USAGE}"
        )
    results = cli.results_dir_of(plain)  # replaced by the composed config's results_dir below
    fast = [k for k in params if k in _SUBSTITUTABLE and all(v.isdigit() for v in params[k])]
    slow = [k for k in params if k not in fast]
    out = []
    for combo in itertools.product(*(params[k] for k in slow)):
        base = dict(zip(slow, combo, strict=True))
        data = cli.compose([*plain, *(f"{k}={v}" for k, v in base.items())])
        results = Path(str(data.get("results_dir", results)))  # a preset may set its own
        for values in itertools.product(*(params[k] for k in fast)):
            swept = {**base, **dict(zip(fast, values, strict=True))}
            cell_data = {**data, **{k: int(v) for k, v in swept.items() if k in fast}}
            conf = config.load(cell_data)
            state, detail = _state(results, conf.task.name, conf.searcher, conf.seed, conf.digest)
            ov = tuple(f"{k}={swept[k]}" for k in params)
            out.append(Cell(ov, conf.task.name, conf.searcher, conf.seed, state, detail))
    return results, out


def _state(results: Path, task: str, searcher: str, seed: int, digest: str) -> tuple[str, str]:
    """``completed`` if a matching run finished; else the most telling state of the others."""
    states = []
    for run_dir, record in cell_runs(results / task / searcher, seed, digest):
        if record.get("status") == "completed":
            return "completed", str(run_dir)
        states.append((str(record.get("status", "unknown")), str(record.get("reason", ""))))
    return states[-1] if states else ("missing", "")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = cli.arguments(argv, USAGE, __doc__)
    if args is None:
        return 0

    def body() -> int:
        results, found = cells(args)
        todo = [c for c in found if c.state != "completed"]
        for c in todo:
            why = f" ({c.detail})" if c.detail else ""
            print(f"{c.state:<11} {' '.join(c.overrides)}{why}")
        print(
            f"{len(todo)} of {len(found)} cells have no completed run under {results}"
            + (
                f"; rerun the sweep to fill them: python -m suite.run -m {' '.join(args)}"
                if todo
                else ""
            )
        )
        return 1 if todo else 0

    return cli.guarded(body)
