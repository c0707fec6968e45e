"""The dataflow executor: calls go out the moment their inputs are in, and nothing the run
records depends on the order in which calls finish."""

import hashlib
import json

import numpy as np
import pytest
import yaml

from suite import config
from suite.app import cli
from suite.app.cell import execute
from suite.backends.base import Backend, Completion, Doc
from suite.backends.sim import SimBackend
from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.core.meter import Meter
from suite.core.topologies import layered, parallel
from suite.engine.executor import Executor
from suite.prompts import load

A, B = "llama-3.2-1b", "llama-3.2-3b"


def answer(call):
    """What a model would say: a function of the call alone (messages and sample index)."""
    h = hashlib.sha256(repr((call.model, call.messages, call.sample_index)).encode()).digest()
    text = f"Answer: {'ABCD'[h[0] % 4]}\nreason {h[1]}"
    return Completion(text, 20 + h[2], 3 + h[3] % 7, 0.01 * (1 + h[4] % 9))


class Shuffled(Backend):
    """Finishes a random non-empty subset of the calls in flight at each collect."""

    name = "shuffled"
    streams = True

    def __init__(self, seed, answer=answer):
        self.rng, self.answer = np.random.default_rng(seed), answer
        self.inflight, self.rounds, self.submitted = [], 0, {}

    @classmethod
    def create(cls, options, env):
        raise NotImplementedError

    def generate(self, model, calls):
        return [self.answer(c) for c in calls]

    def submit(self, model, calls):
        for ticket, call in calls:
            self.inflight.append((ticket, call))
            self.submitted[(call.doc_id, call.node_id, call.sample_index)] = self.rounds

    def collect(self):
        self.rounds += 1
        if not self.inflight:
            return []
        order = self.rng.permutation(len(self.inflight))
        k = int(self.rng.integers(1, len(self.inflight) + 1))
        done = [self.inflight[i] for i in order[:k]]
        keep = sorted(order[k:])
        self.inflight = [self.inflight[i] for i in keep]
        return [(t, self.answer(c)) for t, c in done]


class InOrder(Backend):
    """Answers every call of a round as one batch per model (the default path)."""

    name = "in_order"

    def __init__(self, answer=answer):
        self.answer = answer

    @classmethod
    def create(cls, options, env):
        raise NotImplementedError

    def generate(self, model, calls):
        return [self.answer(c) for c in calls]


def graphs():
    deep = layered([A, B, A, B, A, B], 6, A)  # a chain of six
    mixed = CollabGraph.build(
        [Node("n0", A), Node("n1", A), Node("n2", B, Role.FUSER), Node("n3", A)],
        [("n0", "n2"), ("n1", "n2"), ("n2", FINAL), ("n0", FINAL), ("n3", FINAL)],
        B,
    )
    twins = parallel([A, A, A], A)  # identical calls: sample indices 0, 1, 2
    return [deep, mixed, twins]


def specs():
    return config.space_of(config.load(cli.compose([]))).specs


def run_with(backend, docs, pairs=None):
    meter = Meter(100)
    pairs = pairs or [(g, d) for g in graphs() for d in docs]
    runs = Executor(backend, load("mmlu"), specs(), meter, "mmlu").run(pairs, "search")
    return runs, json.dumps(meter.tally("search").as_dict(), sort_keys=True)


DOCS = [Doc(f"q{i}", f"Question {i}?\nA. 1\nB. 2\nC. 3\nD. 4", {}) for i in range(3)]


def test_any_completion_order_gives_the_same_executions_and_meter():
    reference = run_with(InOrder(), DOCS)
    for seed in range(5):
        assert run_with(Shuffled(seed), DOCS) == reference
    backend = Shuffled(0)
    run_with(backend, DOCS)
    # the twins' identical calls are samples 0, 1, 2 in node order, whatever finished first
    assert {("q0", "n0", 0), ("q0", "n1", 1), ("q0", "n2", 2)} <= set(backend.submitted)


def by_sample(call):
    """Every model says the same for the same sample index, so prompts coincide across nodes."""
    return Completion(f"Answer: {'ABCD'[call.sample_index % 4]}", 10, 2, 0.1)


def test_identical_calls_are_numbered_in_topological_order_whatever_finishes_first():
    # n1 (depth 1) and n4 (depth 2) send model A the same prompt (their inputs both say
    # "Answer: A"); n4 can be ready first when n0 is slow, yet n1 is sample 0 and n4 sample 1.
    graph = CollabGraph.build(
        [Node("n0", A), Node("n1", A), Node("n2", B), Node("n3", B), Node("n4", A)],
        [("n0", "n1"), ("n2", "n3"), ("n3", "n4"), ("n1", FINAL), ("n4", FINAL)],
        A,
    )
    pairs = [(graph, d) for d in DOCS]
    reference = run_with(InOrder(by_sample), None, pairs)
    assert all(r.node_texts["n4"] != r.node_texts["n1"] for r in reference[0])
    for seed in range(20):
        assert run_with(Shuffled(seed, by_sample), None, pairs) == reference


def test_a_call_is_submitted_in_the_round_its_last_input_finished():
    backend = Shuffled(7)
    finished_in = {}
    collect = backend.collect

    def spy():
        out = collect()
        for ticket, _ in out:
            finished_in[ticket] = backend.rounds
        return out

    backend.collect = spy
    tickets = {}
    submit = backend.submit

    def spy_submit(model, calls):
        for ticket, call in calls:
            tickets[(call.doc_id, call.node_id)] = ticket
        submit(model, calls)

    backend.submit = spy_submit
    pairs = list(zip(graphs(), DOCS, strict=True))  # one question per graph: (doc, node) is a key
    run_with(backend, None, pairs)
    # Every call went out right after the collect that completed its last input, not when the
    # other pairs' layers were done.
    for graph, doc in pairs:
        for node_id in (*graph.node_ids, FINAL):
            preds = graph.preds(node_id)
            ready_round = max((finished_in[tickets[(doc.doc_id, p)]] for p in preds), default=0)
            submitted = {r for k, r in backend.submitted.items() if k[:2] == (doc.doc_id, node_id)}
            assert submitted == {ready_round}


def _random_order(self, model, calls):
    self._flight = getattr(self, "_flight", [])
    self._flight.extend(calls)


def _make_collect(seed):
    rng = np.random.default_rng(seed)

    def collect(self):
        flight = getattr(self, "_flight", [])
        if not flight:
            return []
        order = rng.permutation(len(flight))
        k = int(rng.integers(1, len(flight) + 1))
        self._flight = [flight[i] for i in sorted(order[k:])]
        done = [flight[i] for i in order[:k]]
        return [(t, self.generate(c.model, [c])[0]) for t, c in done]

    return collect


def _in_order_collect(self):
    flight, self._flight = getattr(self, "_flight", []), []
    return [(t, self.generate(c.model, [c])[0]) for t, c in flight]


@pytest.mark.slow
def test_a_whole_run_writes_the_same_trials_whatever_the_completion_order(tmp_path, monkeypatch):
    """The sim answers one call at a time here, so only the completion order differs."""
    overrides = ["searcher=random", "n_iterations=4", "test_n=10"]
    monkeypatch.setattr(SimBackend, "submit", _random_order, raising=False)
    outputs = []
    for name, collect in [
        ("in_order", _in_order_collect),
        ("a", _make_collect(1)),
        ("b", _make_collect(2)),
    ]:
        monkeypatch.setattr(SimBackend, "collect", collect, raising=False)
        data = cli.compose([f"results_dir={tmp_path / name}", *overrides])
        run_dir = tmp_path / name / "run-s0"
        record = execute(data, yaml.safe_dump(data), run_dir, quiet=True)
        assert record is not None and record["status"] == "completed"
        outputs.append(((run_dir / "trials.jsonl").read_bytes(), record["test_scores"]))
    assert outputs[0][0] and outputs[1] == outputs[0] and outputs[2] == outputs[0]


class FailsOnce(Shuffled):
    """Raises at its second collect, once; calls it had in flight must never come back."""

    def __init__(self, seed):
        super().__init__(seed)
        self.failed = False

    def collect(self):
        if self.rounds == 1 and not self.failed:
            self.failed = True
            raise RuntimeError("engine died")
        return super().collect()

    def cancel(self):
        self.inflight = []


def test_a_failed_run_leaves_nothing_in_flight_for_the_next():
    backend = FailsOnce(3)
    with pytest.raises(RuntimeError, match="engine died"):
        run_with(backend, DOCS)
    assert backend.inflight == []
    assert run_with(backend, DOCS) == run_with(InOrder(), DOCS)
