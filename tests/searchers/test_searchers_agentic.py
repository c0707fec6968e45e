"""Agent-REINFORCE, TextGrad-style and LLM-proposal searchers: contract, fuzzed replies, labels."""

import dataclasses
import itertools
import re

import numpy as np
import pytest

from searchers.agent_reinforce import AgentReinforceSearcher
from searchers.llm_proposal import LlmProposalSearcher
from searchers.textgrad import TextgradSearcher
from suite.core.errors import ConfigError
from suite.core.graph import Role
from suite.search import heuristics
from suite.search.agents import HeuristicAgent
from suite.search.searcher import AgentReply, AgentRequest, SearchContext
from suite.search.testing import SearcherContract, contract_space, sim_observation


def contract_pilot(space):
    """A stand-in for suite.engine.pilot's rows (a real run always hands the searcher one)."""
    singles = {space.models[k].name: 0.3 + 0.1 * k for k in space.affordable(space.budget_units)}
    mixes = [[list(m), 0.2 + 0.01 * k] for k, m in enumerate(space.feasible_mixes())]
    return {"singles": singles, "mix_accuracy": mixes}


class TestAgentReinforce(SearcherContract):
    n_iterations = 30  # enough asks to pass the pre-test and reach the agent loop

    def context(self, seed):
        return dataclasses.replace(super().context(seed), pilot=contract_pilot(self.space()))

    def make_searcher(self):
        return AgentReinforceSearcher()


class TestAgentReinforceBest(TestAgentReinforce):
    n_iterations = 30

    def make_searcher(self):
        return AgentReinforceSearcher(recommend="best")


class TestTextgrad(SearcherContract):
    def make_searcher(self):
        return TextgradSearcher()


class TestLlmProposal(SearcherContract):
    n_iterations = 10

    def make_searcher(self):
        return LlmProposalSearcher(warmup=2)


def drive_phases(searcher, space, n):
    infos = []
    for _ in range(n):
        p = searcher.ask()
        space.check(p.graph, allow_single=True, cap=not p.uncapped)
        infos.append(dict(p.info))
        searcher.tell(p, sim_observation(p.graph, p, space))
    return infos


def test_agent_reinforce_runs_the_papers_stages_in_order():
    contract = TestAgentReinforce()
    searcher = contract.started(seed=4)
    infos = drive_phases(searcher, contract.space(), 30)
    phases = [i["phase"] for i in infos]
    first_loop = phases.index("loop")
    assert set(phases[:first_loop]) == {"pretest"}  # the pilot is not part of the search
    assert 1 <= first_loop <= 10  # 2 mixes x up to 5 variants, one question each
    loop = [i for i in infos if i["phase"] == "loop"]
    assert loop[0]["iteration"] == 0 and "agent_attempts" not in loop[0]  # prior sample
    assert all(i["agent_attempts"] == 1 for i in loop[1:])  # the heuristic agent parses
    assert len({tuple(i["mix"]) for i in loop}) == 1  # the mix is fixed


def test_agent_reinforce_pretest_graphs_are_all_assistant_and_uncapped():
    """PAPER.md §6 step 3: pre-test graphs are IO-only and not cut to the FLOPs cap."""
    contract = TestAgentReinforce()
    space = contract.space()
    for seed in range(6):
        searcher = contract.started(seed=seed)
        for _ in range(12):
            p = searcher.ask()
            phase = p.info["phase"]
            assert p.uncapped == (phase == "pretest")
            if phase == "pretest":
                assert all(n.role.value == "assistant" for n in p.graph.nodes)
            else:
                space.check(p.graph, allow_single=True)  # loop graphs keep the cap
            searcher.tell(p, sim_observation(p.graph, p, space))


class Scripted:
    """An agent that answers updates from a script of replies (fault injection)."""

    def __init__(self, replies):
        self.real = HeuristicAgent(contract_space())
        self.replies = itertools.cycle(replies)

    @property
    def name(self):
        return "scripted"

    def ask(self, request):
        if request.purpose != "update":
            return self.real.ask(request)
        reply = next(self.replies)
        if reply is None:
            return self.real.ask(request)
        return AgentReply(reply, 10, 10)


GARBAGE = [
    "",
    "I think the graph is fine as it is.",
    "Graph:\nNode n99 | model=llama-3.2-1b | role=IO | preds=[] | succs=[final]\n"
    "Edge-probabilities:\n",
    "Graph:\nNode n0 | model=gpt-5 | role=IO | preds=[] | succs=[final]\nEdge-probabilities:\n",
    "图: Node n0 | model=llama-3.2-1b | role=IO | preds=[] | succs=[final]",
    "Graph:\nNode n0 | model=llama-3.1-70b | role=IO | preds=[] | succs=[final]\n"
    "Node final | model=FinalDecision | role=IO | preds=[n0] | succs=[]\nEdge-probabilities:\n",
    "Graph:\nNode n0 | model=llama-3.2-3b | role=IO | preds=[n1] | succs=[n1]\n"
    "Node n1 | model=llama-3.2-3b | role=IO | preds=[n0] | succs=[n0]\nEdge-probabilities:\n",
    "Graph: {}\nEdge-probabilities: 3: src=n0, dst=n4, prob=0.9",
]


@pytest.mark.parametrize("reply", GARBAGE)
def test_every_bad_reply_ends_in_a_valid_graph_and_a_record(reply):
    class Contract(SearcherContract):
        n_iterations = 30

        def make_searcher(self):
            return AgentReinforceSearcher()

        def agent(self):
            return Scripted([reply])

    contract = Contract()
    searcher = contract.started(seed=1)
    infos = drive_phases(searcher, contract.space(), 24)
    rounds = [i for i in infos if i["phase"] == "loop" and i["iteration"] > 0]
    assert rounds
    for info in rounds:
        assert info["fallback"].startswith("sampled from the")
        assert len(info["parse_errors"]) == 3  # retried up to three times
    contract.space().check(searcher.recommend())


def test_extra_prose_around_valid_blocks_is_accepted():
    class Chatty(Scripted):
        def ask(self, request):
            reply = self.real.ask(request)
            if request.purpose == "update":
                text = "Let me think about R-4 first.\n\n" + reply.text + "\n\nHope this helps!"
                return AgentReply(text, 1, 1)
            return reply

    class Contract(SearcherContract):
        n_iterations = 30

        def make_searcher(self):
            return AgentReinforceSearcher()

        def agent(self):
            return Chatty([None])

    contract = Contract()
    infos = drive_phases(contract.started(seed=2), contract.space(), 24)
    rounds = [i for i in infos if i["phase"] == "loop" and i["iteration"] > 0]
    assert rounds and all("fallback" not in i for i in rounds)


def test_a_bad_reply_then_a_good_one_is_one_retry():
    class Contract(SearcherContract):
        n_iterations = 30

        def make_searcher(self):
            return AgentReinforceSearcher()

        def agent(self):
            return Scripted(["not a graph", None])

    contract = Contract()
    infos = drive_phases(contract.started(seed=3), contract.space(), 24)
    rounds = [i for i in infos if i["phase"] == "loop" and i["iteration"] > 0]
    assert rounds and all(i["agent_attempts"] == 2 and len(i["parse_errors"]) == 1 for i in rounds)


def test_textgrad_starts_from_half_and_shows_no_insights():
    captured = []

    class Spy(HeuristicAgent):
        def ask(self, request):
            captured.append(request)
            return super().ask(request)

    class Contract(TestTextgrad):
        def agent(self):
            return Spy(contract_space())

    contract = Contract()
    drive_phases(contract.started(seed=0), contract.space(), 4)
    user = captured[0].messages[-1][1]
    assert "prob=0.500" in user and "single llama" not in user
    assert "larger models on nodes" not in user  # no insight notes
    assert len(captured[2].messages) == 4  # system, one earlier round (user, assistant), user


def test_agent_searchers_need_an_agent_and_valid_options():
    searcher = AgentReinforceSearcher()
    ctx = TestAgentReinforce().context(0)
    object.__setattr__(ctx, "agent", None)
    with pytest.raises(ConfigError, match="needs an agent"):
        searcher.setup(ctx)
    with pytest.raises(ConfigError):
        AgentReinforceSearcher(objective="speed")
    with pytest.raises(ConfigError):
        LlmProposalSearcher(warmup=0)


def test_heuristic_agent_is_deterministic():
    contract = TestAgentReinforce()
    a = drive_phases(contract.started(seed=9), contract.space(), 26)
    b = drive_phases(contract.started(seed=9), contract.space(), 26)
    assert a == b


class TestAgentReinforceLargeBudget(SearcherContract):
    """48 units: 57 candidate mixes; the pilot is outside the search, so the budget is unchanged."""

    n_iterations = 10

    def space(self):
        return contract_space("mmlu", 48)

    def make_searcher(self):
        return AgentReinforceSearcher()


def spend(searcher, space, budget):
    """Drive like the loop does: stop once ``budget`` question evaluations are spent."""
    infos, used = [], 0
    while used < budget:
        p = searcher.ask()
        if p is None:
            break
        n_docs = min(p.n_docs, budget - used)
        infos.append(dict(p.info, n_docs=n_docs))
        used += n_docs
        searcher.tell(p, sim_observation(p.graph, p, space))
    return infos


def paper_context(space, seed, pilot=None):
    """The default run's search: 10 iterations x 3 questions plus 10 for the pre-test."""
    return SearchContext(
        space, np.random.default_rng(seed), 10, 3, 40, agent=HeuristicAgent(space), pilot=pilot
    )


@pytest.mark.parametrize("task", ["mmlu", "math", "humaneval"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_budget_completes_pretest_and_all_ten_iterations(task, seed):
    # Old code: the pilot was charged to the same 30 questions and the loop got 2-3 updates.
    space = contract_space(task, 12)
    searcher = AgentReinforceSearcher()
    searcher.setup(paper_context(space, seed))
    infos = spend(searcher, space, 40)
    loop = [i for i in infos if i["phase"] == "loop"]
    assert [i["iteration"] for i in loop] == list(range(10))
    assert all(i["n_docs"] == 3 for i in loop)
    assert searcher.ask() is None  # the paper's fixed count: it stops after 10 iterations
    assert {i["phase"] for i in infos} == {"pretest", "loop"}


def test_the_pilot_given_in_the_context_is_the_agents_data_block():
    space = contract_space("mmlu", 12)
    pilot = {
        "singles": {"llama-3.2-1b": 0.31, "llama-3.2-3b": 0.43, "llama-3.1-8b": 0.64},
        "mix_accuracy": [[list(m), 0.1 + 0.01 * k] for k, m in enumerate(space.feasible_mixes())],
    }
    searcher = AgentReinforceSearcher()
    searcher.setup(paper_context(space, 0, pilot))
    searcher.ask()
    assert "- single llama-3.1-8b: 64.0%" in searcher.data_text
    assert searcher.singles == pilot["singles"]
    assert len(searcher.mix_accuracy) == len(space.feasible_mixes())
    bare = AgentReinforceSearcher()
    bare.setup(paper_context(space, 0))
    assert bare.ask().info.get("pilot") == "none given"


def test_budget_ending_in_the_pretest_recommends_the_best_graph_measured():
    contract = TestAgentReinforceLargeBudget()
    space = contract.space()
    searcher = AgentReinforceSearcher()
    searcher.setup(contract.context(0))
    seen = []
    for _ in range(3):
        p = searcher.ask()
        obs = sim_observation(p.graph, p, space)
        searcher.tell(p, obs)
        assert p.info["phase"] == "pretest"
        seen.append((obs.reward, p.graph))
    best = max(r for r, _ in seen)
    assert searcher.recommend() == next(g for r, g in seen if r == best)
    assert searcher.recommend() != searcher.prior.mode()  # never the untested prior mode


def test_pilot_size_out_of_range_is_a_config_error():
    with pytest.raises(ConfigError, match="pilot_questions"):
        AgentReinforceSearcher(pilot_questions=0)


def capture(contract_cls, n, seed=0, **searcher_kw):
    """The update requests a searcher sends the heuristic agent in ``n`` asks."""
    captured = []

    class Spy(HeuristicAgent):
        def ask(self, request):
            captured.append(request)
            return super().ask(request)

    class Contract(contract_cls):
        def agent(self):
            return Spy(contract_space())

        def make_searcher(self):
            return type(super().make_searcher())(**searcher_kw)

    contract = Contract()
    drive_phases(contract.started(seed=seed), contract.space(), n)
    return [r for r in captured if r.purpose == "update"]


def test_textgrad_prompt_has_only_the_official_textgrad_rules():
    user = capture(TestTextgrad, 4)[0].messages[-1][1]
    assert "R-4 Keep the graph acyclic." in user and "R-5 Leave FinalDecision" in user
    assert "R-6" not in user and "in-degree" not in user and "Insights:" not in user
    assert "Example output format" in user and "prob=0.500" in user


def test_agent_reinforce_prompt_shows_percentages_example_and_the_table_context():
    requests = capture(TestAgentReinforce, 30, seed=4)
    user = requests[0].messages[-1][1]
    assert re.search(r"Last-round batch accuracy: \d+\.\d%", user)
    assert re.search(r"- single llama-3.2-1b: \d+\.\d%", user)  # the pilot data, in percent
    assert "started with every probability at 0.000" in user and "outward" in user
    assert "Example output format (do NOT add comments):\nGraph:\nNode n0" in user
    assert "sparse graphs" not in user  # the latency insights belong to the latency variant


def test_latency_variant_gets_the_four_latency_insights():
    user = capture(TestAgentReinforce, 30, seed=4, objective="accuracy_latency")[0].messages[-1][1]
    for phrase in ("fewer nodes", "in-degree small", "sparse graphs", "Smaller models"):
        assert phrase in user


def test_heuristic_reads_the_prompt_text_only():
    user = capture(TestAgentReinforce, 30, seed=4)[1].messages[-1][1]
    good = re.sub(r"Last-round batch accuracy: [0-9.]+%", "Last-round batch accuracy: 100.0%", user)
    bad = re.sub(r"Last-round batch accuracy: [0-9.]+%", "Last-round batch accuracy: 0.0%", user)
    bad = re.sub(r"earlier rounds: [^\n]+", "earlier rounds: 50.0%", bad)
    assert heuristics.reply([("user", good)]) != heuristics.reply([("user", bad)])
    assert not hasattr(AgentRequest("update", ()), "fields")  # no structured side channel


def test_heuristic_applies_no_insight_rule_without_insights():
    user = capture(TestTextgrad, 4)[0].messages[-1][1].replace("prob=0.500", "prob=0.900")
    shown = user.split("Last-round graph:\n")[1].split("\nLast-round edge-probabilities:")[0]
    reply = heuristics.reply([("user", user)])
    nodes = re.findall(r"Node (n\d+) \| model=(\S+)", reply)
    k = len(nodes)
    assert nodes == re.findall(r"Node (n\d+) \| model=(\S+)", shown)  # models stay (no Insight 3)
    edges = sum(len(re.findall(r"n\d+", p)) for p in re.findall(r"preds=\[([^\]]*)\]", reply))
    assert edges == k * (k - 1) // 2 + k  # every acyclic edge: no in-degree or depth limit


def test_pretest_graphs_are_all_assistant():
    contract = TestAgentReinforce()
    searcher, space = contract.started(seed=4), contract.space()
    roles = []
    for _ in range(30):
        p = searcher.ask()
        if p.info["phase"] == "pretest":
            roles += [n.role for n in p.graph.nodes]
        searcher.tell(p, sim_observation(p.graph, p, space))
    assert roles and set(roles) == {Role.ASSISTANT}
