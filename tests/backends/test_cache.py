"""The SQLite call cache: keys, record/replay, read-only replay, WAL under concurrent writers,
meter charges of hits, and a whole search replayed with zero requests to its server."""

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from helpers import run_cli
from helpers.openai_stub import POOL, StubServer, search_args

from suite.backends import cache
from suite.backends.base import Backend, Completion, NodeCall
from suite.core.errors import BackendError, ConfigError
from suite.core.graph import CallKind


class Counting(Backend):
    """A fake real backend: answers with a counter, so a second answer would differ."""

    name = "fake"

    def __init__(self, seed=0):
        self.seed, self.batches, self.calls, self.closed = seed, [], 0, False

    @classmethod
    def create(cls, options, env):
        return cls()

    def generate(self, model, calls):
        self.batches.append(len(calls))
        out = []
        for _ in calls:
            self.calls += 1
            out.append(Completion(f"{model} #{self.calls}", 10 + self.calls, 5, 0.25 * self.calls))
        return out

    def cache_identity(self, model):
        return {"weights": model, "seed": self.seed}

    def close(self):
        self.closed = True


def call(i=0, sample_index=0, temperature=0.1, max_tokens=64, doc="d0", depth=0):
    return NodeCall(
        "mmlu",
        doc,
        f"n{i}",
        CallKind.DIRECT,
        "m",
        (("system", "s"), ("user", f"q{i}")),
        (),
        sample_index,
        depth,
        max_tokens,
        temperature,
    )


def wrapped(tmp_path, mode="readwrite", inner=None):
    inner = inner or Counting()
    return inner, cache.wrap(inner, {"mode": mode, "path": str(tmp_path / "c.sqlite")})


def test_replay_makes_no_calls_and_returns_what_was_recorded(tmp_path):
    inner, b = wrapped(tmp_path)
    batch = [call(0), call(1), call(0), call(0, sample_index=1)]
    first = b.generate("m", batch)
    assert inner.batches == [3]  # one batch of the three distinct calls
    assert first[0] == first[2] and first[0] != first[3]  # identical calls share one answer
    b.close()
    assert inner.closed
    again_inner, again = wrapped(tmp_path)
    assert again.generate("m", batch) == first and again_inner.calls == 0
    info = again.describe()["cache"]
    assert (info["hits"], info["misses"], info["backend_calls"]) == (4, 0, 0)


@pytest.mark.parametrize(
    "changed",
    [
        call(sample_index=1),
        call(temperature=0.7),
        call(max_tokens=65),
        call(i=1),
    ],
)
def test_the_key_covers_sampling_messages_and_sample_index(tmp_path, changed):
    inner, b = wrapped(tmp_path)
    b.generate("m", [call()])
    b.generate("m", [changed])
    assert inner.calls == 2


def test_the_key_covers_the_model_identity_and_not_the_structured_fields(tmp_path):
    inner, b = wrapped(tmp_path)
    b.generate("m", [call()])
    b.generate("m", [call(doc="other-question", depth=3)])  # a real model reads messages only
    assert inner.calls == 1
    b.generate("m2", [call()])
    other_seed, b2 = wrapped(tmp_path, inner=Counting(seed=1))
    b2.generate("m", [call()])
    assert inner.calls == 2 and other_seed.calls == 1


def test_simulated_backends_key_on_their_structured_fields(tmp_path):
    class Sim(Counting):
        simulated = True

    inner, b = wrapped(tmp_path, inner=Sim())
    b.generate("m", [call(), call(depth=2), call(doc="d1")])
    assert inner.calls == 3 and b.simulated


def test_read_mode_miss_is_a_one_line_error(tmp_path):
    _, b = wrapped(tmp_path, mode="read")
    with pytest.raises(BackendError) as err:
        b.generate("m", [call()])
    assert "mode=read" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"mode": "readwirte"}, "did you mean 'readwrite'"),
        ({"mode": "readwrite", "pth": "x"}, "unknown config key 'backend.cache.pth'"),
        ("on", "must be a mapping"),
    ],
)
def test_bad_options_are_one_line(options, needle):
    with pytest.raises(ConfigError) as err:
        cache.wrap(Counting(), options)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("options", [None, {"mode": "off"}, {"mode": False}])
def test_off_leaves_the_backend_alone(options):
    inner = Counting()
    assert cache.wrap(inner, options) is inner


def test_the_file_uses_wal_and_first_writer_wins(tmp_path):
    store = cache.CallCache(tmp_path / "c.sqlite")
    store.put_many([("k", "fake", "m", "{}", Completion("first", 1, 2, 0.5))])
    store.put_many([("k", "fake", "m", "{}", Completion("second", 1, 2, 0.5))])
    assert store.get_many(["k", "absent"]) == {"k": Completion("first", 1, 2, 0.5)}
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal" and len(store) == 1


def _writer(path, worker, n):
    store = cache.CallCache(Path(path))
    for k in range(n):
        key = f"shared-{k}" if k % 2 else f"own-{worker}-{k}"
        store.put_many([(key, "fake", "m", "{}", Completion(f"w{worker}", 1, 1, 0.1))])
        store.get_many([key])


@pytest.mark.slow
def test_concurrent_runs_share_one_file(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 200)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(cache.CallCache(Path(path))) == 3 * 100 + 100


def test_hits_are_charged_their_original_cost(tmp_path):
    from suite.backends.base import Doc
    from suite.config import build_space
    from suite.core.cost import TokenProfile
    from suite.core.graph import CollabGraph
    from suite.core.meter import Meter
    from suite.engine.executor import Executor
    from suite.prompts import load

    specs = build_space(POOL, "mmlu", TokenProfile(213, 215), 3).specs

    graph = CollabGraph.from_dict(
        {
            "final_model": "smollm2-135m",
            "nodes": [{"id": "n0", "model": "gemma-3-270m", "role": "assistant"}],
            "edges": [["n0", "final"]],
        }
    )
    docs = [Doc(f"q{i}", f"What is {i}?", {}) for i in range(3)]
    meters = []
    for _ in range(2):
        inner, b = wrapped(tmp_path)
        meter = Meter(100)
        Executor(b, load("mmlu"), specs, meter, "mmlu").run([(graph, d) for d in docs], "search")
        meters.append((meter.as_dict(), inner.calls))
    assert meters[0][1] == 6 and meters[1][1] == 0
    assert meters[0][0] == meters[1][0] and meters[0][0]["search"]["calls"] == 6


@pytest.mark.slow
def test_rerunning_a_finished_search_replays_it_with_zero_requests(tmp_path):
    server = StubServer()
    db = tmp_path / "calls.sqlite"
    try:
        args = search_args(server.url, tmp_path, f"backend.cache.path={db}")
        first = run_cli("suite.run", *args)
        n_requests = len(server.requests)
        second = run_cli("suite.run", *args, "resume=false")  # a finished run is not redone
        replay_requests = len(server.requests) - n_requests
        server.script = []
        read_only = run_cli(
            "suite.run",
            *args[:-1],
            f"backend.cache.path={tmp_path / 'empty.sqlite'}",
            "backend.cache.mode=read",
        )
    finally:
        server.stop()
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-2000:]
    assert n_requests > 0 and replay_requests == 0
    runs = [Path(p.stdout.strip().splitlines()[-1]) for p in (first, second)]
    assert (runs[0] / "trials.jsonl").read_bytes() == (runs[1] / "trials.jsonl").read_bytes()
    finals = [json.loads((r / "final.json").read_text()) for r in runs]
    assert finals[1]["backend_info"]["cache"]["backend_calls"] == 0
    assert finals[0]["meter"] == finals[1]["meter"]  # hits charged what the calls cost
    assert finals[0]["test_scores"] == finals[1]["test_scores"]
    assert read_only.returncode == 2 and "mode=read" in read_only.stderr
    assert sum(x.startswith("error:") for x in read_only.stderr.splitlines()) == 1
    asked = {body["model"] for _, _, body in server.requests}  # what the searches sent
    assert asked and asked <= {m["hf_id"] for m in POOL["models"]}


@pytest.mark.slow
def test_the_sim_backend_can_be_cached_too_and_gives_the_same_trials(tmp_path):
    from suite.app import cell, cli

    overrides = ["searcher=random", "n_iterations=3", "test_n=10", f"results_dir={tmp_path}"]
    overrides.append("budget.pretest_question_evals=0")  # the search budget is 3 x 3 questions
    finals, rows = [], []
    for name, options in [("plain", None), ("cached", {"mode": "readwrite", "path": "s.db"})]:
        cfg = cli.compose(overrides)
        if options:  # the CLI's key check rejects +backend.cache for sim; set it in the dict
            cfg["backend"]["cache"] = {**options, "path": str(tmp_path / options["path"])}
        finals.append(cell.execute(cfg, "{}", tmp_path / name))
        lines = (tmp_path / name / "trials.jsonl").read_text().splitlines()
        rows.append(
            [{k: v for k, v in json.loads(x).items() if k != "config_digest"} for x in lines]
        )
    assert rows[0] == rows[1] and len(rows[0]) == 3
    assert finals[1]["simulated"] and finals[1]["backend_info"]["cache"]["misses"] > 0
    assert finals[0]["test_accuracy"] == finals[1]["test_accuracy"]
