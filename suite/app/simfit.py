"""``python -m suite.simfit --from <results root | export>``: a sim profile fitted to real runs.

Reads recorded real graph evaluations (``trials.jsonl`` lines and completed ``final.json`` test
scores of ``backend=vllm`` or ``backend=openai`` runs, or the compact export that
``--export`` writes), fits the pool's profile of the task (abilities and behaviour,
:mod:`suite.sim.surrogate`), reports k-fold held-out Spearman rho and MAE between the sim's
expected accuracy and the measured accuracy of graphs the fit did not see, and with ``--write``
writes ``suite/sim/<pool>.yaml`` (``--out`` another file). Without ``--from`` the command is
``python -m suite.sim.fit`` (the llama3 fits), with the same arguments.
"""

from __future__ import annotations

import argparse
import gzip
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from suite.app import cli
from suite.config import CONF_DIR
from suite.core.errors import ConfigError
from suite.core.io import write_atomic
from suite.sim import fit as simfit_llama
from suite.sim import surrogate
from suite.sim.records import export_rows, load_records
from suite.sim.world import PROFILE_DIR

USAGE = (
    "python -m suite.simfit --from <results root | export.jsonl.gz> [--pool tiny_cpu] "
    "[--task T] [--folds 5] [--write | --out profile.yaml] [--export out.jsonl.gz]"
)
HEADER = """\
# Simulated-world profile of the {pool} pool, FITTED TO REAL RUNS by `python -m suite.simfit`
# (suite/sim/surrogate.py): every task's abilities and behaviour parameters minimise the
# question-weighted squared error between the sim's expected accuracy and the measured accuracy
# of recorded real graph evaluations (fit.data). fit.held_out is the k-fold check on graphs the
# fit did not see; fit.residuals lists every recorded graph. Values under fit.fixed are not
# fitted (the reason is given). A surrogate of these models on this task, not the models.
# Regenerate (after changing suite/sim/world.py too): {command}
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m suite.simfit", description=__doc__)
    p.add_argument("--from", dest="source", type=Path, required=True)
    p.add_argument("--pool", default="tiny_cpu")
    p.add_argument("--task", default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--max-evaluations", type=int, default=200)
    p.add_argument("--write", action="store_true", help="write suite/sim/<pool>.yaml")
    p.add_argument("--out", type=Path, default=None, help="write the profile to this file")
    p.add_argument("--export", type=Path, default=None, help="write the records as .jsonl.gz")
    return p


def _parse(args: Sequence[str]) -> argparse.Namespace:
    parser = _parser()
    try:
        ns, rest = parser.parse_known_args(list(args))
    except SystemExit as exc:  # argparse printed its own line already
        raise ConfigError(f"bad arguments; usage: {USAGE}") from exc
    if rest:
        raise ConfigError(f"unknown arguments {rest}; usage: {USAGE}")
    if ns.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {ns.folds}")
    return ns


def pool_models(pool: str) -> list[str]:
    """The model names of ``suite/conf/pool/<pool>.yaml``."""
    path = CONF_DIR / "pool" / f"{pool}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown pool {pool!r}: no {path}")
    return [str(m["name"]) for m in yaml.safe_load(path.read_text())["models"]]


def starting_profile(pool: str, task: str) -> Any:
    """The fit's start from the pool and task configs (token averages, served windows)."""
    pool_path, task_path = CONF_DIR / "pool" / f"{pool}.yaml", CONF_DIR / "task" / f"{task}.yaml"
    for path, what in ((pool_path, "pool"), (task_path, "task")):
        if not path.is_file():
            raise ConfigError(f"unknown {what} {path.stem!r}: no {path}")
    pool_cfg, task_cfg = (
        yaml.safe_load(pool_path.read_text()),
        yaml.safe_load(task_path.read_text()),
    )
    windows = {m["name"]: int(m["serve"]["max_model_len"]) for m in pool_cfg["models"]}
    return surrogate.starting_profile(
        int(task_cfg["input_tokens"]), int(task_cfg["output_tokens"]), windows
    )


def run(args: Sequence[str]) -> dict[str, Any]:
    """Load, fit, validate, print, write; returns the profile document."""
    ns = _parse(args)
    task, records = load_records(ns.source, ns.pool, ns.task, pool_models(ns.pool))
    if ns.export is not None:
        lines = export_rows(records, ns.pool, task, "vllm")
        text = "".join(line + "\n" for line in lines)
        ns.export.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(ns.export, gzip.compress(text.encode(), mtime=0))
        print(f"wrote {ns.export} ({len(records)} graph evaluations)")
    base = starting_profile(ns.pool, task)
    n_q = sum(r.n for r in records)
    print(f"{len(records)} real graph evaluations of {ns.pool} on {task} ({n_q} question runs)")
    result = surrogate.fit(task, base, records, max_evaluations=ns.max_evaluations)
    validation = surrogate.cross_validate(
        task, base, records, folds=ns.folds, max_evaluations=ns.max_evaluations
    )
    _print(result, validation, records)
    command = "python -m suite.simfit " + shlex.join(str(a) for a in args)
    doc = surrogate.profile_document(
        ns.pool, task, result, validation, records, str(ns.source), command
    )
    out = ns.out or (PROFILE_DIR / f"{ns.pool}.yaml" if ns.write else None)
    if out is not None:
        body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
        write_atomic(out, HEADER.format(pool=ns.pool, command=command) + body)
        print(f"wrote {out}")
    return doc


def _print(
    result: surrogate.FitResult, validation: surrogate.Validation, records: Sequence[Any]
) -> None:
    print(f"fit: weighted MSE {result.loss:.5f} after {result.evaluations} loss evaluations")
    for name, value in result.values.items():
        print(f"  {name:<26} {value:8.4f}")
    print(
        f"held-out ({validation.folds}-fold over graphs): Spearman rho {validation.spearman:.3f}, "
        f"MAE {100 * validation.mae:.1f} pts (training-mean predictor: "
        f"{100 * validation.mean_mae:.1f} pts; sampling noise alone: "
        f"{100 * validation.noise_mae:.1f} pts)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``--from`` fits from real runs; anything else is ``suite.sim.fit``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--from" or a.startswith("--from=") for a in args):
        if any(a in ("-h", "--help") for a in args):
            print(f"usage: {USAGE}\n\n{__doc__}")
            return 0
        return simfit_llama.main(args)
    parsed = cli.arguments(args, USAGE, __doc__)
    if parsed is None:
        return 0

    def body() -> int:
        run(parsed)
        return 0

    return cli.guarded(body)
