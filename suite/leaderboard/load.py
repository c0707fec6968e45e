"""Reading a results tree: completed runs, excluded runs and single-model reference rows.

The leaderboard reads only what runs wrote: each run folder's final.json, config.yaml and
trials.jsonl, and the JSON files ``python -m suite.evaluate ... out=`` writes under
``<results>/<task>/single/``. Nothing here executes a graph.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from suite.config import CONF_DIR
from suite.core.errors import DataError
from suite.core.graph import CollabGraph
from suite.engine.results import SCHEMA_VERSION
from suite.leaderboard import checks, reference
from suite.leaderboard.checks import display, finite, plain, whole

SINGLE_DIR = "single"  # <results>/<task>/single/<anything>.json: suite.app.evaluate out= files
REQUIRED = (
    "task",
    "backend",
    "pool",
    "budget_units_max",
    "searcher",
    "seed",
    "test_accuracy",
    "graph",
    "cost_flops",
    "latency_s",
    "graph_evals",
    "question_evals",
    "meter",
)
# config.yaml keys that never change what a searcher does (the group key or bookkeeping)
_NOT_PROTOCOL = ("seed", "results_dir", "resume", "task.", "pool.", "budget.", "searcher.name")


@dataclass(frozen=True)
class Run:
    """One completed run folder, reduced to what the leaderboard reports."""

    path: Path
    task: str
    backend: str
    pool: str
    budget_units: int
    searcher: str
    label: str  # final.json's searcher_label: ``agent_reinforce[heuristic]`` names the agent
    agent: str
    seed: int
    test_accuracy: float
    test_n: int
    test_doc_ids: tuple[str, ...]
    test_scores: tuple[float, ...]
    graph: Mapping[str, Any]
    graph_digest: str
    cost_flops: float
    latency_s: float
    graph_evals: int
    question_evals: int
    search_tokens: int
    search_flops: float
    agent_tokens: int
    agent_calls: int
    wall_s: float
    simulated: bool
    world_seed: int | None
    suite_version: str
    stamp: str
    protocol: Mapping[str, Any] = field(default_factory=dict)
    extra_question_evals: int = 0  # > 0: the equal-total-budget view (final.json "budget")
    pilot_question_evals: int = 0  # the pilot's prior cost (final.json "pilot"), 0 without one

    @property
    def uses_agent(self) -> bool:
        """True when the searcher called an agent (its label names it in brackets)."""
        return "[" in self.label


@dataclass(frozen=True)
class Excluded:
    """A run folder that is not averaged in, and why."""

    path: Path
    status: str
    reason: str


@dataclass(frozen=True)
class Single:
    """A fixed graph (usually one model alone) scored on the test split by suite.app.evaluate."""

    path: Path
    task: str
    backend: str
    pool: str
    name: str
    models: tuple[str, ...]
    test_accuracy: float
    test_ci95: tuple[float, float]
    test_n: int
    cost_flops: float
    latency_s: float
    simulated: bool
    graph: Mapping[str, Any] = field(default_factory=dict)
    world_seed: int | None = None  # sim only; suite.evaluate files predating it used world 0


@dataclass
class Collection:
    """Everything found under a results folder."""

    root: Path
    runs: list[Run] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    singles: list[Single] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        """A path as shown in the outputs: relative to the results folder when inside it.

        Folder names are the user's: characters that are markup in an output become ``?``.
        """
        try:
            return plain(path.relative_to(self.root).as_posix())
        except ValueError:
            return plain(str(path))


def load(root: Path, pools: Mapping[str, Any] | None = None) -> Collection:
    """Read every run folder and single-model file under ``root``.

    Args:
        root: A results folder (``results/`` or any folder of copied run folders).
        pools: Pool name -> pool config mapping, to name the pool of single-model files
            (which do not record it); defaults to the suite's ``conf/pool/*.yaml``.

    Raises:
        DataError: if the folder is missing or holds no run, or if its runs were written
            with different (or unknown) schema versions.
    """
    if not root.is_dir():
        raise DataError(
            f"results folder {root} does not exist; run a sweep first, e.g. "
            "python -m suite.run -m +experiment=leaderboard_sim"
        )
    finals = sorted(root.rglob("final.json"))
    single_files = sorted(p for p in root.glob(f"*/{SINGLE_DIR}/*.json"))
    if not finals and not single_files:
        raise DataError(
            f"no run folders (final.json) under {root}; run a sweep first, e.g. "
            "python -m suite.run -m +experiment=leaderboard_sim"
        )
    out = Collection(root)
    known = pools if pools is not None else _pool_configs()
    records = list(_read_finals(finals, out))
    _check_schema(records)
    for path, record in records:
        if record.get("status") != "completed":
            status = str(record.get("status", "unknown"))
            reason = str(record.get("reason", "the run did not finish"))
            out.excluded.append(Excluded(path.parent, plain(status), plain(reason)))
            continue
        missing = [k for k in REQUIRED if k not in record]
        if missing:
            out.excluded.append(
                Excluded(path.parent, "malformed", f"final.json lacks {', '.join(missing)}")
            )
            continue
        try:
            run = _run(path.parent, record)
            _check_pool_models(run, known)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # e.g. "abc" as accuracy
            reason = plain(f"final.json: {type(exc).__name__}: {exc}")
            out.excluded.append(Excluded(path.parent, "malformed", reason))
            continue
        out.runs.append(run)
    for path in single_files:
        single = _single(path, known)
        if isinstance(single, Excluded):
            out.excluded.append(single)
        else:
            out.singles.append(single)
    out.runs, superseded = _dedupe(out.runs, root)
    out.excluded.extend(superseded)
    out.excluded.sort(key=lambda e: str(e.path))
    return out


def _read_finals(finals: list[Path], out: Collection) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in finals:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # also not UTF-8, nested too deep
            why = "nested too deeply" if isinstance(exc, RecursionError) else exc
            reason = plain(f"final.json: {why}")
            out.excluded.append(Excluded(path.parent, "unreadable", reason))
            continue
        if not isinstance(record, dict):
            out.excluded.append(Excluded(path.parent, "unreadable", "final.json is not an object"))
            continue
        yield path, record


def _check_schema(records: list[tuple[Path, dict[str, Any]]]) -> None:
    versions = Counter(str(r.get("schema_version", "missing")) for _, r in records)
    if len(versions) > 1:
        parts = []
        for version, count in sorted(versions.items()):
            example = next(p.parent for p, r in records if str(r.get("schema_version")) == version)
            parts.append(f"{version} ({count} runs, e.g. {example})")
        raise DataError(
            "the results mix schema versions "
            + ", ".join(parts)
            + f"; this suite reads version {SCHEMA_VERSION}: move the other runs to another "
            "folder (or rerun them) and build each folder's leaderboard separately"
        )
    if versions and next(iter(versions)) != str(SCHEMA_VERSION):
        found = next(iter(versions))
        raise DataError(
            f"the results use schema version {found}, but this suite reads version "
            f"{SCHEMA_VERSION}; use the suite version that wrote them, or rerun the sweep"
        )


def _run(folder: Path, r: Mapping[str, Any]) -> Run:
    """A completed run's record as a :class:`Run`.

    Raises:
        ValueError, TypeError, KeyError, AttributeError: a field of the wrong type or value.
    """
    checks.check_names(r, ("task", "backend", "pool", "searcher"), checks.NAME)
    checks.check_graph_models(r["graph"])
    meter = r.get("meter") or {}
    search, agent = meter.get("search", {}), meter.get("agent", {})
    info = r.get("backend_info") or {}
    world_seed = info.get("world_seed") if r.get("backend") == "sim" else None
    return Run(
        path=folder,
        task=str(r["task"]),
        backend=str(r["backend"]),
        pool=str(r["pool"]),
        budget_units=whole(r["budget_units_max"], "budget_units_max"),
        searcher=str(r["searcher"]),
        label=display(str(r.get("searcher_label") or r["searcher"])),
        agent=display(str(r.get("agent", ""))),
        seed=whole(r["seed"], "seed"),
        test_accuracy=finite(r["test_accuracy"], "test_accuracy"),
        test_n=int(r.get("test_n", len(r.get("test_scores", [])))),
        test_doc_ids=tuple(str(d) for d in r.get("test_doc_ids", [])),
        test_scores=tuple(float(s) for s in r.get("test_scores", [])),
        graph=r["graph"],
        graph_digest=str(r.get("graph_digest", "")),
        cost_flops=finite(r["cost_flops"], "cost_flops"),
        latency_s=finite(r["latency_s"], "latency_s"),
        graph_evals=whole(r["graph_evals"], "graph_evals"),
        question_evals=whole(r["question_evals"], "question_evals"),
        search_tokens=int(search.get("prompt_tokens", 0)) + int(search.get("output_tokens", 0)),
        search_flops=float(search.get("flops", 0.0)),
        agent_tokens=int(agent.get("prompt_tokens", 0)) + int(agent.get("output_tokens", 0)),
        agent_calls=int(r.get("agent_calls", agent.get("calls", 0))),
        wall_s=float(r.get("wall_s", 0.0)),
        simulated=bool(r.get("simulated", r["backend"] == "sim")),
        world_seed=int(world_seed) if isinstance(world_seed, int) else None,
        suite_version=str((r.get("package_versions") or {}).get("tts-graph-bench", "unknown")),
        stamp=folder.name.rsplit("-s", 1)[0],
        protocol=protocol(folder / "config.yaml", uses_agent="[" in str(r.get("searcher_label"))),
        extra_question_evals=_count(r.get("budget"), "extra_question_evals"),
        pilot_question_evals=_count(r.get("pilot"), "question_evals"),
    )


def _count(section: Any, key: str) -> int:
    """A whole count from a final.json section that older runs lack (0 when absent)."""
    value = section.get(key, 0) if isinstance(section, Mapping) else 0
    return whole(value, key) if value is not None else 0


def _check_pool_models(run: Run, pools: Mapping[str, Any]) -> None:
    """Refuse a sim run the oracle cannot score: unknown task or pool, or a model the pool lacks.

    Raises:
        ValueError: naming the pool.
    """
    if run.backend != "sim":
        return
    if not reference.known(run.pool, run.task):
        raise ValueError(f"the sim world has no profile for task {run.task} in pool {run.pool}")
    cfg = pools.get(run.pool)
    if not isinstance(cfg, Mapping):
        return
    names = {str(m.get("name")) for m in cfg.get("models", []) if isinstance(m, Mapping)}
    graph = run.graph
    used = {graph.get("final_model"), *(n.get("model") for n in graph.get("nodes", []))}
    if not used <= names:
        raise ValueError(f"the graph uses a model that pool {run.pool} does not have")


def protocol(config_path: Path, uses_agent: bool) -> dict[str, Any]:
    """The settings of a run that change what its searcher does, as ``dotted.key: value``.

    Task, pool, budget and seed are left out (they are the group key or the seed); the agent's
    settings count only for searchers that call it. A missing config.yaml gives ``{}``.
    """
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
        data = yaml.load(config_path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, ValueError, RecursionError, yaml.YAMLError):  # also not UTF-8, too deep
        return {}
    flat: dict[str, Any] = {}
    _flatten(data if isinstance(data, dict) else {}, "", flat)
    drop = (*_NOT_PROTOCOL, *(() if uses_agent else ("agent.",)))
    return {
        k: v for k, v in sorted(flat.items()) if not any(k == d or k.startswith(d) for d in drop)
    }


def _flatten(node: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, name + ".", out)
        else:
            value = json.dumps(value, sort_keys=True) if isinstance(value, list) else value
            # a value names a row variant in every output: markup in it is shown as "?"
            out[plain(name)] = plain(value) if isinstance(value, str) else value


def _dedupe(runs: list[Run], root: Path) -> tuple[list[Run], list[Excluded]]:
    """Keep the newest completed run of each (cell, seed); list the older ones as superseded."""
    newest: dict[tuple[Any, ...], Run] = {}
    dropped: list[Excluded] = []
    for run in sorted(runs, key=lambda r: (r.stamp, str(r.path)), reverse=True):
        key = (
            run.task,
            run.backend,
            run.pool,
            run.budget_units,
            run.extra_question_evals,
            run.label,
            json.dumps(run.protocol, sort_keys=True, default=str),
            run.seed,
        )
        if key in newest:
            newer = newest[key].path
            shown = plain(
                newer.relative_to(root).as_posix() if newer.is_relative_to(root) else str(newer)
            )
            dropped.append(Excluded(run.path, "superseded", f"by the newer run {shown}"))
        else:
            newest[key] = run
    return sorted(newest.values(), key=lambda r: str(r.path)), dropped


def _pool_configs() -> dict[str, Any]:
    out = {}
    for path in sorted((CONF_DIR / "pool").glob("*.yaml")):
        out[path.stem] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return out


def _single(path: Path, pools: Mapping[str, Any]) -> Single | Excluded:
    """A suite.app.evaluate ``out=`` file; the pool is the first whose models cover the graph."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        checks.check_names(record, ("task", "backend", "pool"), checks.NAME)
        checks.check_graph_models(record["graph"])
        graph = CollabGraph.from_dict(record["graph"])
        models = tuple(sorted({graph.final_model, *(n.model for n in graph.nodes)}))
        pool = str(record.get("pool") or _pool_of(models, pools))
        lo, hi = record["test_ci95"]
        name = f"single: {graph.final_model}" if not graph.nodes else f"fixed graph {graph.digest}"
        return Single(
            path=path,
            task=str(record["task"]),
            backend=str(record["backend"]),
            pool=pool,
            name=name,
            models=models,
            test_accuracy=float(record["test_accuracy"]),
            test_ci95=(float(lo), float(hi)),
            test_n=int(record["test_n"]),
            cost_flops=float(record["cost_flops"]),
            latency_s=float(record["latency_s"]),
            simulated=bool(record.get("simulated", record["backend"] == "sim")),
            graph=graph.to_dict(),
            world_seed=_world_seed(record),
        )
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        why = plain(f"single-model file: {type(exc).__name__}: {exc}")
        return Excluded(path, "unreadable", why)
    except Exception as exc:  # an invalid graph raises the suite's own errors
        return Excluded(path, "unreadable", plain(f"single-model file: {exc}"))


def _world_seed(record: Mapping[str, Any]) -> int | None:
    """The sim world a single-model file was scored in; None off sim."""
    if record.get("backend") != "sim":
        return None
    info = record.get("backend_info") or {}
    # suite.evaluate does not record it yet; conf/backend/sim.yaml pins world_seed 0.
    return int(info.get("world_seed", 0))


def _pool_of(models: tuple[str, ...], pools: Mapping[str, Any]) -> str:
    for name, cfg in pools.items():
        names = {str(m.get("name")) for m in (cfg or {}).get("models", [])}
        if set(models) <= names:
            return name
    return "unknown"


def read_trials(run: Run) -> list[dict[str, Any]]:
    """The run's trial lines (empty when trials.jsonl is missing); a torn last line is dropped."""
    path = run.path / "trials.jsonl"
    try:
        data = path.read_bytes()
    except OSError:  # missing (or not a file): no trials to show
        return []
    rows = []
    for line in data.splitlines():
        try:
            row = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # torn, not UTF-8 or nested too deep: skipped
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
