"""Executor + sim backend + lm-eval scoring, on the real MMLU task entry."""

import numpy as np
import pytest

from suite import config
from suite.app import cli
from suite.backends.base import Backend
from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.core.topologies import layered, parallel
from suite.engine import session
from suite.engine.loop import evaluate
from suite.sim.world import GOLD, run_graph, text_key

MID, BIG, SMALL = "llama-3.2-3b", "llama-3.1-8b", "llama-3.2-1b"


@pytest.fixture(scope="module")
def sess():
    conf = config.load(cli.compose(["test_n=400"]))
    s = session.build(conf)
    yield s
    s.close()


class Recorder(Backend):
    """Wraps the real backend to see the batches the executor sends."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    @classmethod
    def create(cls, options, env):
        raise NotImplementedError

    def generate(self, model, calls):
        self.batches.append((model, [c.node_id for c in calls]))
        return self.inner.generate(model, calls)


def graphs():
    mixed = CollabGraph.build(
        [Node("n0", SMALL), Node("n1", MID), Node("n2", BIG, Role.FUSER)],
        [("n0", "n2"), ("n1", "n2"), ("n2", FINAL), ("n0", FINAL)],
        MID,
    )
    return [mixed, parallel([SMALL, SMALL, MID], MID), layered([SMALL] * 4, 2, MID)]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_text_path_agrees_with_the_id_level_world(sess, index):
    graph = graphs()[index]
    docs = sess.task.test_docs
    result = evaluate(sess.executor, sess.task.score_many, graph, docs, "test")
    keys = np.array([text_key(d.doc_id) for d in docs], dtype=np.uint64)
    expected = (run_graph(sess.backend.world, graph, keys) == GOLD).astype(float)
    assert list(result.scores) == list(expected)  # lm-eval's filter scores exactly the sim's truth


def test_one_batch_per_model_per_layer(sess):
    recorder = Recorder(sess.backend)
    original = sess.executor.backend
    sess.executor.backend = recorder
    try:
        docs = sess.task.test_docs[:5]
        pairs = [(g, d) for g in graphs() for d in docs]
        runs = sess.executor.run(pairs, "test")
    finally:
        sess.executor.backend = original
    assert len(runs) == len(pairs)
    expected = []
    for step in range(max(len(g.layers()) for g in graphs())):
        per_model = {}
        for g in graphs():
            layers = g.layers()
            if step < len(layers):
                for node_id in layers[step]:
                    per_model[g.node(node_id).model] = per_model.get(g.node(node_id).model, 0) + 1
        expected += [(m, n * len(docs)) for m, n in sorted(per_model.items())]
    assert [(m, len(ids)) for m, ids in recorder.batches] == expected


def test_costs_and_tokens_follow_the_cost_model(sess):
    graph = graphs()[1]
    docs = sess.task.test_docs[:4]
    result = evaluate(sess.executor, sess.task.score_many, graph, docs, "test")
    assert result.cost_flops == pytest.approx(sess.space.flops(graph) * len(docs))
    assert result.latency_s == pytest.approx(sess.space.latency_s(graph))


def test_scores_go_through_the_tasks_own_filter(sess):
    doc = sess.task.test_docs[0]
    gold = sess.task.target(doc)
    wrong = next(x for x in "ABCD" if x != gold)
    assert sess.task.score(doc, f"Answer: {gold}\nbecause") == 1.0
    assert sess.task.score(doc, f"**Answer:** {gold.lower()}") == 1.0
    assert sess.task.score(doc, f"Answer: {wrong}") == 0.0
    assert sess.task.score(doc, f"Answer: {gold}<|im_end|>Answer: {wrong}") == 1.0
    assert sess.task.score(doc, "no idea") == 0.0


@pytest.mark.slow
def test_splits_are_seeded_and_disjoint(sess):
    test_ids = {d.doc_id for d in sess.task.test_docs}
    search_ids = {d.doc_id for d in sess.task.search_docs}
    assert len(test_ids) == 400 and len(search_ids) == 285 and not test_ids & search_ids
    again = session.build(config.load(cli.compose(["test_n=400"])))
    assert [d.doc_id for d in again.task.test_docs] == [d.doc_id for d in sess.task.test_docs]
    other = session.build(config.load(cli.compose(["test_n=400", "task.split_seed=1"])))
    assert {d.doc_id for d in other.task.test_docs} != test_ids


def test_nodes_that_cannot_reach_final_are_neither_run_nor_charged(sess):
    """PAPER.md §8: the official Graph.run executes only nodes with a path to FinalDecision."""
    used = graphs()[0]
    extra = CollabGraph.build(
        [*used.nodes, Node("n3", BIG), Node("n4", SMALL, Role.FUSER)],
        [*used.edges, ("n3", "n4"), ("n0", "n3")],
        MID,
    )
    assert extra.unused() == ("n3", "n4")
    recorder = Recorder(sess.backend)
    original = sess.executor.backend
    sess.executor.backend = recorder
    docs = sess.task.test_docs[:3]
    before = sess.executor.meter.tally("probe").calls
    try:
        run_extra = evaluate(sess.executor, sess.task.score_many, extra, docs, "probe")
        calls = sess.executor.meter.tally("probe").calls - before
        run_used = evaluate(sess.executor, sess.task.score_many, used, docs, "probe")
    finally:
        sess.executor.backend = original
    called = {node for _, ids in recorder.batches for node in ids}
    assert not called & {"n3", "n4"}
    assert calls == (len(used.nodes) + 1) * len(docs)
    assert run_extra.scores == run_used.scores
    assert run_extra.cost_flops == pytest.approx(run_used.cost_flops)
    assert run_extra.latency_s == pytest.approx(run_used.latency_s)
    keys = np.array([text_key(d.doc_id) for d in docs], dtype=np.uint64)
    expected = (run_graph(sess.backend.world, extra, keys) == GOLD).astype(float)
    assert list(run_extra.scores) == list(expected)  # the id-level world skips them too
