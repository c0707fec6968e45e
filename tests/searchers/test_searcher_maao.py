"""The MaaoSwarm hybrid: REINFORCE and LLM table-rewrite steps in turn (PAPER.md §8)."""

import numpy as np
import pytest

from searchers.maao import MaaoSearcher
from suite.core.errors import ConfigError
from suite.core.graph import FINAL
from suite.search import table_agent
from suite.search.agents import HeuristicAgent
from suite.search.searcher import AgentReply, Observation, SearchContext
from suite.search.testing import SearcherContract, contract_space, sim_observation


class TableAgent:
    """Answers the table-rewrite prompt from its text alone (the heuristic rule), and counts."""

    name = "table-heuristic"

    def __init__(self):
        self.requests = []

    def ask(self, request):
        self.requests.append(request)
        text = table_agent.heuristic_reply(request.messages)
        return AgentReply(text, 1, 1)


class Scripted:
    """Replies with fixed texts in turn."""

    name = "scripted"

    def __init__(self, *texts):
        self.texts, self.calls = list(texts), 0

    def ask(self, request):
        text = self.texts[min(self.calls, len(self.texts) - 1)]
        self.calls += 1
        return AgentReply(text, 1, 1)


class TestMaao(SearcherContract):
    def make_searcher(self):
        return MaaoSearcher()


class TestMaaoTextAgent(SearcherContract):
    """The LLM steps apply rewritten tables (an agent that reads only the prompt text)."""

    n_iterations = 8

    def make_searcher(self):
        return MaaoSearcher()

    def agent(self):
        return TableAgent()


class TestMaaoBest(SearcherContract):
    def make_searcher(self):
        return MaaoSearcher(recommend="best", batch=2, reset_adam=False)


def started(agent, seed=0, **options):
    searcher = MaaoSearcher(**options)
    space = contract_space()
    searcher.setup(SearchContext(space, np.random.default_rng(seed), 10, 3, 30, agent=agent))
    return searcher


def run(searcher, n):
    space, trials = contract_space(), []
    for _ in range(n):
        p = searcher.ask()
        if p is None:
            break
        trials.append(p)
        searcher.tell(p, sim_observation(p.graph, p, space))
    return trials


def test_steps_alternate_reinforce_and_llm_for_five_cycles():
    """Ten steps of three questions: reinforce, llm, reinforce, ...; then nothing more."""
    agent = TableAgent()
    searcher = started(agent)
    trials = run(searcher, 40)
    assert len(trials) == 30
    assert [t.info["iteration"] for t in trials] == [k // 3 for k in range(30)]
    assert [t.info["step"] for t in trials] == [
        ("reinforce", "llm")[(k // 3) % 2] for k in range(30)
    ]
    assert [t.info["cycle"] for t in trials] == [k // 6 for k in range(30)]
    assert all(t.n_docs == 1 for t in trials)
    assert len(agent.requests) == 5  # one agent call per LLM step, each reply parsed
    assert all(r.purpose == "maao" for r in agent.requests)
    updates = [t.info["update"]["step"] for t in trials if "update" in t.info]
    assert updates == ["reinforce", "llm"] * 4 + ["reinforce"]
    assert searcher.ask() is None
    contract_space().check(searcher.recommend())


def test_reinforce_steps_move_the_logits_and_llm_steps_set_the_tables():
    space = contract_space()
    k = space.edge_index[("n0", FINAL)]
    reply = "\n".join(
        [
            "Edge-probabilities:",
            f"{k}: src=n0, dst=final, prob=0.900",
            "Role-probabilities:",
            "0: node=n0, IO=0.200, REV=0.800",
        ]
    )
    searcher = started(Scripted(reply))
    start = searcher.distribution.state()
    run(searcher, 3)  # the first REINFORCE step
    after_pg = searcher.distribution.state()
    assert after_pg["edge_logits"] != start["edge_logits"]
    run(searcher, 3)  # the first LLM step
    dist = searcher.distribution
    assert dist.raw_edge_prob("n0", FINAL) == pytest.approx(0.9)
    assert dist.role_probs("n0") == pytest.approx([0.2, 0.8])
    untouched = space.edge_index[("n1", FINAL)]
    assert dist.edge_logits[untouched] == after_pg["edge_logits"][untouched]


def test_replies_that_do_not_parse_keep_the_tables_and_are_recorded():
    agent = Scripted("no tables here", "Edge-probabilities:\n0: src=n5, dst=n9, prob=0.5")
    searcher = started(agent)
    run(searcher, 3)
    before = searcher.distribution.state()
    run(searcher, 3)
    assert searcher.distribution.state() == before
    note = searcher.ask().info["update"]
    assert note["fallback"] and note["agent_attempts"] == 3 and len(note["parse_errors"]) == 3
    assert agent.calls == 3


def test_the_default_heuristic_agent_is_asked_through_the_agent_interface():
    """With agent=heuristic every LLM step is a metered call; the searcher never stalls."""
    searcher = started(HeuristicAgent(contract_space()))
    trials = run(searcher, 40)
    assert len(trials) == 30
    notes = [t.info["update"] for t in trials if t.info.get("update", {}).get("step") == "llm"]
    assert notes and not any(n.get("fallback") for n in notes)  # it answers maao's prompt


def test_the_heuristic_rule_nudges_the_last_graphs_choices():
    searcher = started(TableAgent())
    dist = searcher.distribution
    graph = run(searcher, 1)[0].graph
    request = table_agent.request(dist, graph, 1.0)
    rewritten = table_agent.apply_reply(dist, table_agent.heuristic_reply(request.messages))
    for src, dst in graph.edges:
        assert rewritten.raw_edge_prob(src, dst) == pytest.approx(0.75, abs=1e-3)
    unused = next(e for e in contract_space().candidate_edges if e not in graph.edges)
    assert rewritten.raw_edge_prob(*unused) == pytest.approx(0.5, abs=1e-3)
    for node in graph.nodes:
        want = 0.75 if node.role.value == "fuser" else 0.25
        assert rewritten.role_probs(node.id)[1] == pytest.approx(want, abs=1e-3)


def test_the_prompt_shows_every_candidate_edge_unshifted_and_every_slot():
    searcher = started(TableAgent())
    graph = run(searcher, 1)[0].graph
    user = table_agent.request(searcher.distribution, graph, 1 / 3).messages[-1][1]
    space = contract_space()
    assert "33.3%" in user
    assert f"{len(space.candidate_edges) - 1}: src=n11, dst=final, prob=0.500" in user
    assert "11: node=n11, IO=0.500, REV=0.500" in user


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"cycles": 0}, "cycles"),
        ({"lr": 0}, "lr"),
        ({"batch": 0}, "batch"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"recommend": "mode"}, "extracted"),
        ({"edge_threshold": 2}, "edge_threshold"),
        ({"max_out_edges": 0}, "max_out_edges"),
    ],
)
def test_bad_options_are_one_line_config_errors(options, match):
    with pytest.raises(ConfigError, match=match) as info:
        MaaoSearcher(**options)
    assert "\n" not in str(info.value)


def test_observations_of_a_batch_update_once():
    searcher = started(TableAgent(), batch=2)
    p = searcher.ask()
    start = searcher.distribution.state()
    searcher.tell(p, Observation(1.0, (1.0,), 0.0, 0.0))
    assert searcher.distribution.state() == start
    q = searcher.ask()
    searcher.tell(q, Observation(1.0, (1.0,), 0.0, 0.0))
    assert searcher.distribution.state() != start
