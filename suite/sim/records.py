"""Real graph evaluations as records: read from run folders or an export file, written back.

Owns :class:`Record` (one graph's real per-question scores), :func:`load_records` (run folders
of real runs, or the committed export file; sim runs and other pools are refused) and
:func:`export_rows` (the export file's lines). :mod:`suite.sim.surrogate` fits a profile to them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from suite.core.errors import DataError
from suite.core.graph import CollabGraph

EXPORT_SCHEMA = "tts-graph-bench/real-graph-evals/1"


@dataclass(frozen=True)
class Record:
    """One real graph evaluation: a graph, the questions it answered and their scores.

    Attributes:
        graph: The evaluated graph (unused nodes included, as recorded).
        doc_ids: The questions, in order (empty for a ``suite.evaluate`` record).
        scores: Per-question scores from the task's lm-eval filter and metric (likewise).
        source: Where it was read (run folder and file, or the export file and line).
        split: ``search`` (a trials.jsonl line), ``test`` (a final.json) or ``single`` (a
            ``suite.evaluate`` record, which keeps only the accuracy and the question count).
        n: Questions answered.
        accuracy: Mean score over them.
    """

    graph: CollabGraph
    doc_ids: tuple[str, ...]
    scores: tuple[float, ...]
    source: str
    split: str
    n: int
    accuracy: float


# --- loading ------------------------------------------------------------------------------------


def load_records(
    path: Path, pool: str, task: str | None, pool_models: Collection[str] = ()
) -> tuple[str, list[Record]]:
    """Real graph evaluations of ``pool`` under ``path``: run folders or an export file.

    In a folder, every ``trials.jsonl`` line, every completed ``final.json`` (its test scores)
    and every ``suite.evaluate`` record under a ``single/`` folder (accuracy and question count
    only) is a record. ``suite.evaluate`` records name no pool: they count as ``pool``'s when
    every model of their graph is in ``pool_models``. Returns the task (``task``, or the one
    task the records hold).

    Raises:
        DataError: nothing found; a record from a simulated backend; another pool's records;
            several tasks and no ``task`` given.
    """
    rows = list(_rows(path))
    if not rows:
        raise DataError(
            f"no real graph evaluations found under {path}: record runs with backend=vllm or "
            "backend=openai first (benchmarks/record_tiny_cpu.sh)"
        )
    for row, source in rows:
        if row.get("simulated", True) or row.get("backend") == "sim":
            raise DataError(
                f"{source} is a sim run (backend={row.get('backend')}), not a real one; "
                "fit only to runs of backend=vllm or backend=openai"
            )
        if "pool" not in row and row.get("split") == "single":
            models = sorted(
                {n["model"] for n in row["graph"]["nodes"]} | {row["graph"]["final_model"]}
            )
            if not set(models) <= set(pool_models):
                raise DataError(
                    f"{source} is a run of other models {models}, not of pool {pool!r}; "
                    f"pass a folder of {pool} runs"
                )
        elif row.get("pool") != pool:
            raise DataError(
                f"{source} is a run of pool {row.get('pool')!r}, not {pool!r}; "
                f"pass --pool {row.get('pool')} or a folder of {pool} runs"
            )
    tasks = sorted({str(row.get("task")) for row, _ in rows})
    if task is None and len(tasks) > 1:
        raise DataError(f"{path} holds runs of several tasks {tasks}; pass --task <one of them>")
    chosen = task if task is not None else tasks[0]
    records = [_record(row, source) for row, source in rows if row.get("task") == chosen]
    if not records:
        raise DataError(f"no real runs of task {chosen!r} under {path} (found: {tasks})")
    return chosen, records


def _rows(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    if path.is_file():
        yield from _export_rows(path)
        return
    if not path.is_dir():
        raise DataError(f"--from {path}: no such folder or file")
    for trials in sorted(path.rglob("trials.jsonl")):
        for n, line in enumerate(trials.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = _json(line, f"{trials}:{n}")
                yield {**row, "split": "search"}, f"{trials}:{n}"
    for single in sorted(path.rglob("single/*.json")):  # suite.evaluate records
        data = _json(single.read_text(encoding="utf-8"), str(single))
        yield {**data, "split": "single"}, str(single)
    for final in sorted(path.rglob("final.json")):
        data = _json(final.read_text(encoding="utf-8"), str(final))
        if data.get("status") == "completed" and data.get("test_scores"):
            row = {**data, "doc_ids": data.get("test_doc_ids"), "scores": data["test_scores"]}
            yield {**row, "split": "test"}, str(final)


def _export_rows(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise DataError(f"cannot read {path} ({exc}); pass a results folder or an export") from exc
    for n, line in enumerate(lines, 1):
        if line.strip():
            row = _json(line, f"{path}:{n}")
            if row.get("schema") != EXPORT_SCHEMA:
                raise DataError(f"{path}:{n} is not a {EXPORT_SCHEMA} line; pass a results folder")
            yield row, f"{path}:{n}"


def _json(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{where} is not valid JSON ({exc.args[0]}); remove or fix it") from exc
    if not isinstance(data, dict):
        raise DataError(f"{where} is not a JSON object; remove or fix it")
    return data


def _record(row: Mapping[str, Any], source: str) -> Record:
    split = str(row.get("split", "search"))
    try:
        graph = CollabGraph.from_dict(row["graph"])
        if split == "single":
            n, acc = (
                int(row.get("test_n", row.get("n"))),
                float(row.get("test_accuracy", row.get("accuracy"))),
            )
            return Record(graph, (), (), source, split, n, acc)
        doc_ids = tuple(str(d) for d in row["doc_ids"])
        scores = tuple(float(s) for s in row["scores"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{source} lacks a graph, doc_ids or scores ({exc})") from exc
    if not scores or len(scores) != len(doc_ids):
        raise DataError(f"{source}: {len(scores)} scores for {len(doc_ids)} questions")
    return Record(graph, doc_ids, scores, source, split, len(scores), float(np.mean(scores)))


def export_rows(records: Sequence[Record], pool: str, task: str, backend: str) -> list[str]:
    """The records as compact JSON lines (the committed data file's format)."""
    out = []
    for r in records:
        row = {
            "schema": EXPORT_SCHEMA,
            "backend": backend,
            "simulated": False,
            "pool": pool,
            "task": task,
            "split": r.split,
            "source": r.source,
            "graph": r.graph.to_dict(),
            "doc_ids": list(r.doc_ids),
            "scores": list(r.scores),
            "n": r.n,
            "accuracy": r.accuracy,
        }
        out.append(json.dumps(row, sort_keys=True, separators=(",", ":")))
    return out
