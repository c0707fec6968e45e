"""What a run shows and records: the progress bar, final.json's record, the summary table."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tabulate import tabulate
from tqdm import tqdm

from suite.config import RunConfig
from suite.core.graph import CollabGraph
from suite.engine.loop import Evaluation
from suite.engine.pilot import Pilot
from suite.engine.session import Session


class _Bar:
    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def step(self, n_docs: int, reward: float) -> None:
        self.bar.set_postfix_str(f"reward={reward:.2f}")
        self.bar.update(n_docs)


@contextlib.contextmanager
def progress_bar(
    conf: RunConfig, label: str, done: int = 0, disable: bool = False
) -> Iterator[_Bar]:
    """A tqdm bar over the search budget (question evaluations), on stderr."""
    desc = f"{label} on {conf.task.name} [{conf.backend}] search"
    with tqdm(
        total=conf.eval_budget,
        initial=done,
        disable=disable,
        desc=desc,
        unit="q",
        file=sys.stderr,
        dynamic_ncols=True,
        leave=True,
    ) as bar:
        yield _Bar(bar)


def final_record(
    sess: Session,
    conf: RunConfig,
    graph: CollabGraph,
    test: Evaluation,
    totals: dict[str, Any],
    label: str,
) -> dict[str, Any]:
    """final.json's body for a completed run."""
    space = sess.space
    return {
        "status": "completed",
        "task": conf.task.name,
        "searcher": conf.searcher,
        "searcher_label": label,
        "agent": sess.agent.name,
        "agent_calls": sess.meter.tally("agent").calls,
        "backend": conf.backend,
        "simulated": sess.backend.simulated,
        "backend_info": sess.backend.describe(),
        **({"agent_info": info} if (info := sess.agent.describe()) is not None else {}),
        "seed": conf.seed,
        "graph": graph.to_dict(),
        "graph_digest": graph.digest,
        "graph_text": graph.as_text(),
        "graph_summary": graph.describe(),
        "test_accuracy": test.accuracy,
        "test_ci95": list(test.ci95),
        "test_n": len(test.scores),
        "test_doc_ids": list(test.doc_ids),
        "test_scores": list(test.scores),
        "cost_flops": space.flops(graph),
        "latency_s": test.latency_s,
        "budget_units": space.units(graph),
        "budget_units_max": space.budget_units,
        "cap_flops": space.cap_flops,
        "graph_evals": totals["graph_evals"],
        "question_evals": totals["question_evals"],
        "best_search_reward": totals["best_search_reward"],
        "meter": sess.meter.as_dict(),
        "wall_s": sess.meter.wall_s(),
        "task_info": sess.task.describe(),
    }


def pilot_fields(conf: RunConfig, study: tuple[Pilot, bool] | None) -> dict[str, Any]:
    """final.json's budget fields, for the leaderboard's two views.

    ``pilot`` is the prior cost (None for searchers without a pilot); ``budget`` holds the
    metered search budget and its parts. Equal search budget: compare runs whose
    ``extra_question_evals`` is 0, with agent_reinforce's pilot as a separate prior cost.
    Equal total budget: compare agent_reinforce's ``total_question_evals`` (search + pilot)
    with runs of other searchers whose ``extra_question_evals`` equals that pilot's
    ``question_evals``.
    """
    prior = study[0].record(study[1]) if study else None
    return {
        "pilot": prior,
        "budget": {
            "search_question_evals": conf.eval_budget,
            "loop_question_evals": conf.n_iterations * conf.batch_size,
            "pretest_question_evals": conf.pretest_question_evals,
            "extra_question_evals": conf.extra_question_evals,
            "prior_question_evals": prior["question_evals"] if prior else 0,
        },
    }


def print_summary(record: dict[str, Any], run_dir: Path) -> None:
    """The short table a user reads after a run; the last line printed is the run folder."""
    lo, hi = record["test_ci95"]
    backend = record["backend"] + (
        " (simulated LLMs, not real model scores)" if record["simulated"] else ""
    )
    best = record["best_search_reward"]
    rows = [
        ("backend", backend),
        (
            "task / searcher / seed",
            f"{record['task']} / {record['searcher_label']} / {record['seed']}",
        ),
        ("found graph", record["graph_summary"]),
        ("graph digest", record["graph_digest"]),
        ("search reward (best batch)", "n/a" if best is None else f"{best:.3f}"),
        (
            "test accuracy",
            f"{record['test_accuracy']:.3f}  (95% CI {lo:.3f}-{hi:.3f}, n={record['test_n']})",
        ),
        (
            "budget used",
            f"{record['budget_units']}/{record['budget_units_max']} units, "
            f"{record['cost_flops']:.3e} of {record['cap_flops']:.3e} FLOPs per question",
        ),
        (
            "graph evaluations",
            f"{record['graph_evals']} ({record['question_evals']} question runs)",
        ),
        *(
            [
                (
                    "pilot (prior cost)",
                    f"{p['question_evals']} question runs, {p['calls']} calls, "
                    f"{p['flops']:.3e} FLOPs" + (" (cached)" if p["cached"] else ""),
                )
            ]
            if (p := record.get("pilot"))
            else []
        ),
        (
            "latency per question",
            f"{record['latency_s']:.2f} s "
            + ("(sim throughput profile)" if record["simulated"] else "(measured)"),
        ),
    ]
    print(tabulate(rows, tablefmt="simple_outline"), flush=True)
    print(run_dir, flush=True)
