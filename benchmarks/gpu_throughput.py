"""Real-model throughput, replay and memory of the ``vllm`` backend; prints one line per figure.

Run through ``benchmarks/gpu_throughput.sh <pool> <task>`` (see there). Figures, all on the same
sampled graphs and questions:

1. executor tok/s against vLLM's own offline ``generate`` given every recorded call of a model
   at once (an upper bound: it ignores that a node waits for its inputs);
2. executor tok/s against the same executor sending one call at a time (node by node), and,
   where the backend streams, against its layer-by-layer batch path;
3. with prefix caching off (engines restarted), where the backend has the option;
4. a whole search recorded into a fresh call cache, then replayed: wall times, engine starts
   and whether torch, vLLM, lm-eval or ``datasets`` was imported during the replay
   (``python -X importtime``);
5. peak RSS of this process (both engines) and of the search and replay processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from suite import config
from suite.app import cli
from suite.backends.base import Backend, Completion, NodeCall
from suite.core.distribution import GraphDistribution
from suite.engine import session
from suite.engine.executor import Executor


def rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def tree_peak_mib() -> float:
    """Peak RSS of this process plus each live descendant (engine cores in their own
    processes), from /proc's VmHWM: an upper bound on the peak of the whole tree."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {os.getpid()}, True
    while grew:
        kids = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= kids
        grew = bool(kids)
    total_kib = 0
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total_kib += next(
            (int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM")), 0
        )
    return total_kib / 1024


class Layered(Backend):
    """The same backend through the default batch path: one ``generate`` per model per layer."""

    name = "layered"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @classmethod
    def create(cls, options: Any, env: Any) -> Backend:
        raise NotImplementedError

    def generate(self, model: str, calls: Sequence[NodeCall]) -> list[Completion]:
        return list(self.inner.generate(model, calls))


class NodeByNode(Layered):
    """The same backend, one call at a time (what batching avoids)."""

    name = "node_by_node"

    def generate(self, model: str, calls: Sequence[NodeCall]) -> list[Completion]:
        return [c for call in calls for c in self.inner.generate(model, [call])]


def record_calls(backend: Any) -> dict[str, list[NodeCall]]:
    """Wrap the backend's entry points so that every call the executor sends is kept."""
    recorded: dict[str, list[NodeCall]] = {}
    generate = backend.generate
    submit = getattr(type(backend), "submit", None)

    def on_generate(model: str, calls: Sequence[NodeCall]) -> list[Completion]:
        recorded.setdefault(model, []).extend(calls)
        return generate(model, calls)

    backend.generate = on_generate
    if submit is not None and submit is not Backend.submit:  # a streaming backend
        bound = backend.submit

        def on_submit(model: str, calls: Sequence[tuple[int, NodeCall]]) -> None:
            recorded.setdefault(model, []).extend(c for _, c in calls)
            bound(model, calls)

        backend.submit = on_submit
    return recorded


def timed(backend: Any, work: Callable[[], object]) -> tuple[float, int, float]:
    """(tok/s, generated tokens, seconds) of ``work``."""
    before, start = backend.generated_tokens, time.perf_counter()
    work()
    wall_s = time.perf_counter() - start
    tokens = backend.generated_tokens - before
    return tokens / wall_s, tokens, wall_s


def offline(backend: Any, recorded: dict[str, list[NodeCall]]) -> None:
    """vLLM's own offline generate, all recorded calls of a model in one call (the requests the
    backend itself builds: same token ids, sampling parameters and generation limits)."""
    for model, calls in recorded.items():
        prompts, params = backend.requests(model, calls)
        outs = backend.engine(model).generate(prompts, params, use_tqdm=False)
        backend.generated_tokens += sum(len(o.outputs[0].token_ids) for o in outs)


def build(
    pool: str, task: str, extra: Sequence[str] = (), prefix_caching: bool | None = None
) -> Any:
    overrides = [f"pool={pool}", f"task={task}", "backend=vllm", "backend.cache.mode=off", *extra]
    if prefix_caching is not None:
        overrides.append(f"backend.prefix_caching={str(prefix_caching).lower()}")
    sess = session.build(config.load(cli.compose(overrides)))
    for model in sess.space.model_names:  # start every engine before timing anything
        sess.backend.engine(model)
    return sess


def ratios(args: argparse.Namespace) -> None:
    sess = build(args.pool, args.task, args.set)
    backend = sess.backend
    starts = {m: round(s, 1) for m, s in backend.start_s.items()}
    apart = getattr(backend, "own_process", {})
    print(
        f"engines started in {starts} s ({'own processes' if any(apart.values()) else 'in-process'}"
        f"; overrides {args.set or 'none'}); peak RSS {tree_peak_mib():.0f} MiB",
        flush=True,
    )
    rng = np.random.default_rng(0)
    dist = GraphDistribution(sess.space)
    graphs = [dist.sample(rng).graph for _ in range(args.graphs)]
    pairs = [(g, d) for g in graphs for d in sess.task.search_docs[: args.docs]]
    recorded = record_calls(backend)
    rate, tokens, wall_s = timed(backend, lambda: sess.executor.run(pairs, "search"))
    calls = sum(len(c) for c in recorded.values())
    print(
        f"executor: {rate:.1f} generated tok/s ({tokens} tokens, {calls} calls, "
        f"{len(pairs)} graph-question pairs, {wall_s:.1f} s)",
        flush=True,
    )
    raw, raw_tokens, raw_s = timed(backend, lambda: offline(backend, recorded))
    print(
        f"vLLM offline generate, same prompts: {raw:.1f} tok/s ({raw_tokens} tokens, "
        f"{raw_s:.1f} s); executor/offline = {rate / raw:.2f}x",
        flush=True,
    )
    if getattr(backend, "streams", False):  # this code streams: compare with its batch path
        layered = Executor(Layered(backend), sess.prompts, sess.space.specs, sess.meter, args.task)
        lay, lay_tokens, lay_s = timed(backend, lambda: layered.run(pairs, "search"))
        print(
            f"layered (one generate per model per layer): {lay:.1f} tok/s ({lay_tokens} tokens, "
            f"{lay_s:.1f} s); executor/layered = {rate / lay:.2f}x",
            flush=True,
        )
    sub = pairs[: max(1, len(pairs) // args.node_fraction)]
    single = Executor(NodeByNode(backend), sess.prompts, sess.space.specs, sess.meter, args.task)
    one, one_tokens, one_s = timed(backend, lambda: single.run(sub, "search"))
    print(
        f"node by node ({len(sub)} pairs): {one:.1f} tok/s ({one_tokens} tokens, {one_s:.1f} s); "
        f"executor/node-by-node = {rate / one:.1f}x (vLLM's own ceiling here, offline/node-by-node"
        f" = {raw / one:.1f}x)",
        flush=True,
    )
    print(
        f"peak RSS with every pool engine (this process and its engine processes): "
        f"{tree_peak_mib():.0f} MiB",
        flush=True,
    )
    has_option = hasattr(backend, "prefix_caching")
    sess.close()
    if not has_option:
        print("prefix caching off: this backend has no prefix_caching option", flush=True)
        return
    sess = build(args.pool, args.task, args.set, prefix_caching=False)
    off, off_tokens, off_s = timed(sess.backend, lambda: sess.executor.run(pairs, "search"))
    print(
        f"prefix caching off: {off:.1f} tok/s ({off_tokens} tokens, {off_s:.1f} s); "
        f"on/off = {rate / off:.2f}x",
        flush=True,
    )
    sess.close()


HEAVY = ("torch", "vllm", "lm_eval", "datasets")
"""What a replay must not import: the engines' stack, and lm-eval's task (scores are recorded)."""


def run_search(
    args: argparse.Namespace, folder: Path, extra: Sequence[str], importtime: bool = False
) -> dict[str, Any]:
    """One ``python -m suite.run``; its wall time, final.json and, with ``importtime`` (which
    slows every import, so it is never on in a timed run), the heavy modules it imported."""
    overrides = [
        "backend=vllm",
        f"pool={args.pool}",
        f"task={args.task}",
        "searcher=random",
        "n_iterations=2",
        "batch_size=2",
        "test_n=2",
        "budget.units=3",
        "budget.pretest_question_evals=0",
        "pool.models.0.serve.max_tokens=40",
        "pool.models.1.serve.max_tokens=40",
        f"results_dir={folder / 'results'}",
        f"backend.cache.path={folder / 'calls.sqlite'}",
        *args.set,
        *extra,
    ]
    flags = ["-X", "importtime"] if importtime else []
    cmd = [sys.executable, *flags, "-m", "suite.run", *overrides]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    wall_s = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"search failed: {proc.stderr.splitlines()[-1:]}")
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    final = json.loads((run_dir / "final.json").read_text())
    imported = sorted(
        {
            name
            for line in proc.stderr.splitlines()
            if line.startswith("import time:")
            for name in HEAVY
            if line.rsplit("|", 1)[-1].strip().split(".")[0] == name
        }
    )
    trials = (run_dir / "trials.jsonl").read_bytes()
    return {"wall_s": wall_s, "final": final, "heavy": imported, "trials": trials}


def replay(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gpu_throughput-") as tmp:
        first = run_search(args, Path(tmp), [])
        replays = [run_search(args, Path(tmp), ["resume=false"]) for _ in range(3)]
        checked = run_search(args, Path(tmp), ["resume=false"], importtime=True)
    second = sorted(replays, key=lambda r: r["wall_s"])[1]  # the median of three
    second["heavy"] = checked["heavy"]
    info = second["final"]["backend_info"]
    starts = len(info.get("engine_start_s", {})) + len(info.get("server_start_s", {}))
    same = first["trials"] == second["trials"]
    all_s = ", ".join(f"{r['wall_s']:.2f}" for r in replays)
    print(
        f"whole search (random, 2x2 questions, test_n=2, 40-token cap): {first['wall_s']:.1f} s; "
        f"cache replay {second['wall_s']:.2f} s (median of 3: {all_s}); original/replay = "
        f"{first['wall_s'] / second['wall_s']:.0f}x; engine starts during replay: {starts}; "
        f"cache {info['cache']['hits']} hits, {info['cache']['misses']} misses, scores "
        f"{info['cache']['scores']['hits']} hits, {info['cache']['scores']['misses']} misses; "
        f"{'/'.join(HEAVY)} imported during a replay (-X importtime, untimed): "
        f"{', '.join(second['heavy']) or 'none'}; "
        f"same trials.jsonl: {same and all(r['trials'] == first['trials'] for r in replays)}",
        flush=True,
    )
    print(
        f"peak RSS of the search and replay processes: {rss_mib(resource.RUSAGE_CHILDREN):.0f} "
        "MiB (the larger of the two)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pool")
    parser.add_argument("task")
    parser.add_argument("--graphs", type=int, default=16)
    parser.add_argument("--docs", type=int, default=3)
    parser.add_argument("--node-fraction", type=int, default=4, help="node by node on 1/N pairs")
    parser.add_argument("--part", choices=("all", "ratios", "replay"), default="all")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every run, e.g. --set backend.engine_process=true",
    )
    args = parser.parse_args()
    if args.part in ("all", "ratios"):
        ratios(args)
    if args.part in ("all", "replay"):
        replay(args)


if __name__ == "__main__":
    main()
