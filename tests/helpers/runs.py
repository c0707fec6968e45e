"""Run folders as suite.app.run writes them (the fields the leaderboard reads), for tests."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import yaml

from suite.core.topologies import parallel
from suite.leaderboard import build, load
from suite.leaderboard.reference import Oracle

GRAPH = parallel(["llama-3.2-1b", "llama-3.2-1b"], "llama-3.2-3b").to_dict()
BETTER = parallel(["llama-3.1-8b", "llama-3.2-3b"], "llama-3.2-3b").to_dict()
_COUNTER = itertools.count()
DOCS = [f"mmlu-{i:05d}" for i in range(10)]


def make_run(
    root,
    searcher="random",
    seed=0,
    scores=(1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    units=12,
    task="mmlu",
    status="completed",
    label=None,
    stamp=None,
    n_iterations=10,
    schema_version=1,
    graph=GRAPH,
    trials=3,
    backend="sim",
    trial_graph=None,
    extra_question_evals=0,
    pilot_question_evals=None,
):
    """A run folder as suite.app.run writes it (the fields the leaderboard reads).

    ``backend="vllm"`` writes a real-backend run (no sim world: test accuracy is the metric).
    """
    sim = backend == "sim"
    stamp = stamp or f"20261126-12{next(_COUNTER):04d}-000000"
    folder = Path(root) / task / searcher / f"{stamp}-s{seed}"
    folder.mkdir(parents=True)
    config = {
        "searcher": {"name": searcher, "recommend": "best"},
        "task": {"name": task},
        "backend": {"name": backend, "world_seed": 0},
        "pool": {"name": "llama3"},
        "budget": {"units": units},
        "agent": {"name": "heuristic"},
        "seed": seed,
        "n_iterations": n_iterations,
        "batch_size": 3,
        "test_n": len(scores),
        "results_dir": str(root),
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    record = {"schema_version": schema_version, "status": status}
    if status == "completed":
        record.update(
            budget={"extra_question_evals": extra_question_evals},
            pilot=(
                None if pilot_question_evals is None else {"question_evals": pilot_question_evals}
            ),
            task=task,
            backend=backend,
            pool="llama3",
            simulated=sim,
            backend_info={"name": backend, "simulated": sim, **({"world_seed": 0} if sim else {})},
            budget_units_max=units,
            searcher=searcher,
            searcher_label=label or searcher,
            agent="heuristic",
            seed=seed,
            graph=graph,
            graph_digest="d",
            test_accuracy=sum(scores) / len(scores),
            test_n=len(scores),
            test_doc_ids=DOCS[: len(scores)],
            test_scores=[float(s) for s in scores],
            cost_flops=1.0e13,
            latency_s=2.5,
            graph_evals=trials,
            question_evals=3 * trials,
            meter={
                "search": {"prompt_tokens": 100, "output_tokens": 50, "flops": 3.0e13},
                "agent": {"prompt_tokens": 7, "output_tokens": 3, "calls": 1},
            },
            wall_s=0.5,
            package_versions={"tts-graph-bench": "0.1.0"},
        )
    else:
        record["reason"] = f"{status} on purpose"
    (folder / "final.json").write_text(json.dumps(record))
    lines = [
        {"reward": (i % 3) / 3, "cost_flops": 1.0e13 * (i + 1), "graph": trial_graph or graph}
        for i in range(trials)
    ]
    (folder / "trials.jsonl").write_text("".join(json.dumps(t) + "\n" for t in lines))
    return folder


def board_of(root):
    return build.build(load.load(Path(root)), Oracle())


def row(board, name, units=12):
    group = next(g for g in board.groups if g.key.budget_units == units)
    return next(r for r in group.rows if r.name == name)
