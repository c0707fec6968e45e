"""The run's config as frozen values: a composed config becomes one RunConfig, checked once.

Hydra checks keys and types against :mod:`suite.config.schema` while it composes; everything
past :func:`load` takes plain values.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from suite.core.cost import ModelSpec, TokenProfile
from suite.core.errors import ConfigError, did_you_mean
from suite.core.resources import package_path
from suite.core.space import GraphSpace

CONF_DIR = package_path("suite") / "conf"
GROUPS = ("searcher", "task", "backend", "pool", "budget", "agent")
# Options that were renamed: (group, old name) -> (new name, why). The old name is refused with
# one line naming the new one, not kept as an alias: an alias file would show up again in
# --help, tab completion and did-you-mean lists. Configs compose to values only, never to an
# option's name, so runs made under the old name keep their config digest.
RENAMED_OPTIONS = {("budget", "paper"): ("u12", "the paper's 12 units")}


def group_options(group: str) -> list[str]:
    """Option names of a config group (the YAML file names in ``suite/conf/<group>/``).

    Sorted with numbers compared as numbers, so budgets read ``u6, u12, u24, u48``.
    """
    return sorted((p.stem for p in (CONF_DIR / group).glob("*.yaml")), key=_natural)


def _natural(name: str) -> tuple[tuple[str, int], ...]:
    """Sort key of ``name`` that compares its runs of digits as numbers."""
    parts = re.findall(r"(\D*)(\d*)", name)
    return tuple((text, int(digits) if digits else -1) for text, digits in parts)


def unknown_option(group: str, name: str) -> str:
    """One line for an option ``name`` that ``group`` lacks: its new name, or the closest ones."""
    renamed = RENAMED_OPTIONS.get((group, name))
    if renamed is not None:
        new, why = renamed
        return f"{group} '{name}' is now '{new}' ({why}); write {group}={new}"
    options = group_options(group)
    old = [o for g, o in RENAMED_OPTIONS if g == group]
    if not difflib.get_close_matches(name, options, cutoff=0.5):
        for match in difflib.get_close_matches(name, old, n=1, cutoff=0.5):
            new = RENAMED_OPTIONS[(group, match)][0]
            return f"unknown {group} '{name}'; did you mean '{new}' (formerly '{match}')?"
    return f"unknown {group} '{name}'; {did_you_mean(name, options)}"


@dataclass(frozen=True)
class TaskConfig:
    """One task: its lm-eval entry, token averages, split sizes and prompt set."""

    name: str
    lm_eval_task: str
    data: str
    prompts: str
    input_tokens: int
    output_tokens: int
    split_seed: int
    search_n: int
    test_n: int = 100
    include_path: str | None = None


@dataclass(frozen=True)
class RunConfig:
    """A whole run, resolved and validated. Built once by :func:`load`."""

    seed: int
    n_iterations: int
    batch_size: int
    test_n: int
    results_dir: str
    task: TaskConfig
    searcher: str
    searcher_options: Mapping[str, Any]
    backend: str
    backend_options: Mapping[str, Any]
    pool: Mapping[str, Any]
    budget_units: int
    agent: str = "heuristic"
    pretest_question_evals: int = 0
    extra_question_evals: int = 0
    agent_options: Mapping[str, Any] = field(default_factory=dict)
    resume: str = "auto"
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def digest(self) -> str:
        """Digest of the resolved experiment: equal configs, equal digests.

        ``results_dir`` and ``resume`` are left out: they do not change what results are.
        """
        experiment = {k: v for k, v in self.raw.items() if k not in ("results_dir", "resume")}
        text = json.dumps(experiment, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def eval_budget(self) -> int:
        """Question evaluations the search may spend, the same for every searcher.

        Iterations x batch size, plus ``budget.pretest_question_evals`` (room for stages before
        the loop, e.g. Agent-REINFORCE's pre-test) and ``budget.extra_question_evals`` (the
        equal-total-budget view: another searcher's pilot cost given as search budget).
        """
        extra = self.pretest_question_evals + self.extra_question_evals
        return self.n_iterations * self.batch_size + extra


def _at_least(value: int, key: str, minimum: int) -> int:
    """``value``, when it is at least ``minimum`` (its type was checked by the schema)."""
    if value < minimum:
        raise ConfigError(f"{key} must be >= {minimum}, got {value}")
    return value


def load(cfg: Mapping[str, Any]) -> RunConfig:
    """Build the frozen RunConfig from a composed, resolved config (``suite.app.cli.compose``).

    Hydra checked every key and type against :mod:`suite.config.schema` while composing; this
    checks what a type cannot say: the smallest allowed values and ``resume``.

    Raises:
        ConfigError: naming the first bad value and what to use instead.
    """
    task = dict(cfg["task"])
    for key in ("input_tokens", "output_tokens", "search_n", "test_n"):
        _at_least(task[key], f"task.{key}", 1)
    budget = cfg["budget"]
    searcher = dict(cfg["searcher"])
    backend = dict(cfg["backend"])
    agent = dict(cfg.get("agent") or {"name": "heuristic"})
    resume = str(cfg.get("resume", "auto")).lower()
    if resume not in ("auto", "true", "false"):
        raise ConfigError(f"resume must be auto, true or false, got {cfg.get('resume')!r}")
    return RunConfig(
        seed=_at_least(cfg["seed"], "seed", 0),
        n_iterations=_at_least(cfg["n_iterations"], "n_iterations", 1),
        batch_size=_at_least(cfg["batch_size"], "batch_size", 1),
        test_n=_at_least(cfg["test_n"], "test_n", 1),
        results_dir=str(cfg["results_dir"]),
        task=TaskConfig(**task),
        searcher=str(searcher.pop("name")),
        searcher_options=searcher,
        backend=str(backend.pop("name")),
        backend_options=backend,
        pool=dict(cfg["pool"]),
        budget_units=_at_least(budget["units"], "budget.units", 1),
        pretest_question_evals=_at_least(
            budget["pretest_question_evals"], "budget.pretest_question_evals", 0
        ),
        extra_question_evals=_at_least(
            budget["extra_question_evals"], "budget.extra_question_evals", 0
        ),
        agent=str(agent.pop("name")),
        agent_options=agent,
        resume=resume,
        raw=dict(cfg),
    )


def model_specs(pool: Mapping[str, Any], task: str) -> tuple[ModelSpec, ...]:
    """The pool's models as cost specs for one task, smallest size class first.

    Raises:
        ConfigError: on a missing field, a non-numeric value or a duplicate name.
    """
    specs = []
    for k, m in enumerate(pool.get("models") or []):
        try:
            units = m["units"]
            specs.append(
                ModelSpec(
                    name=str(m["name"]),
                    params=float(m["params"]),
                    layers=int(m["layers"]),
                    hidden=int(m["hidden"]),
                    size_rank=int(m["size_rank"]),
                    unit_cost=int(units.get(task, units["default"])),
                    prefill_tok_s=float(m.get("prefill_tok_s", 10_000.0)),
                    decode_tok_s=float(m.get("decode_tok_s", 100.0)),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"pool '{pool.get('name')}' model #{k} is malformed ({type(exc).__name__}: {exc}); "
                "each model needs name, params, layers, hidden, size_rank, units.default"
            ) from exc
    return tuple(sorted(specs, key=lambda s: (s.size_rank, s.params)))


def build_space(pool: Mapping[str, Any], task: str, tokens: TokenProfile, units: int) -> GraphSpace:
    """The run's GraphSpace from a pool mapping, a task and a budget in units."""
    return GraphSpace(
        task=task,
        models=model_specs(pool, task),
        final_model=str(pool.get("final_model", "")),
        budget_units=units,
        tokens=tokens,
    )


def space_of(cfg: RunConfig) -> GraphSpace:
    """The GraphSpace a run searches."""
    tokens = TokenProfile(cfg.task.input_tokens, cfg.task.output_tokens)
    return build_space(cfg.pool, cfg.task.name, tokens, cfg.budget_units)
