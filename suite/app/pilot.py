"""``python -m suite.pilot [overrides]``: run or show the task's pilot (PAPER.md §6).

Takes the same overrides as ``python -m suite.run``; the pilot is measured once per task, pool,
backend, model revisions and budget on the search split, cached, and printed as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from suite import config
from suite.app import cli
from suite.engine import pilot, session

USAGE = "python -m suite.pilot [task=mmlu pool=llama3 backend=sim budget=u12 ...]"


def run(overrides: Sequence[str]) -> dict[str, Any]:
    """Read or measure the pilot, print it; returns its cached body."""
    cli.check_overrides(overrides)
    conf = config.load(cli.compose(overrides))
    sess = session.build(conf)
    try:
        study, cached = pilot.ensure(sess, conf, session.progress)
    finally:
        sess.close()
    rows = [(f"single {name}", f"{acc:.1%}") for name, acc in study.singles.items()]
    rows += [
        (f"random graph, mix {sess.space.format_mix(mix)}", f"{acc:.1%}")
        for mix, _, acc in study.mixes
    ]
    cost = study.cost
    simulated = " (simulated LLMs)" if sess.backend.simulated else ""
    print(
        f"pilot {study.digest}: {conf.task.name} / {conf.pool.get('name')} / "
        f"{conf.backend}{simulated}, {len(study.doc_ids)} search questions per row"
        + (" (cached)" if cached else "")
    )
    print(tabulate(rows, headers=("row", "accuracy"), tablefmt="simple_outline"))
    print(
        f"cost: {cost['question_evals']} question runs, {cost['calls']} calls, "
        f"{cost['flops']:.3e} FLOPs (a prior cost, not charged to any search budget)"
    )
    print(pilot.path_of(study.digest), flush=True)
    return study.as_dict()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = cli.arguments(argv, USAGE, __doc__)
    if args is None:
        return 0

    def body() -> int:
        run(args)
        return 0

    return cli.guarded(body)
