"""Agent-REINFORCE, TextGrad-style and LLM-proposal searchers: contract, fuzzed replies, labels."""

import itertools

import numpy as np
import pytest

from searchers.agent_reinforce import AgentReinforceSearcher
from searchers.llm_proposal import LlmProposalSearcher
from searchers.textgrad import TextgradSearcher
from suite.core.errors import ConfigError
from suite.search.agents import HeuristicAgent
from suite.search.searcher import AgentReply, SearchContext
from suite.search.testing import SearcherContract, contract_space, sim_observation


class TestAgentReinforce(SearcherContract):
    n_iterations = 30  # enough asks to pass the pre-test and reach the agent loop

    def make_searcher(self):
        return AgentReinforceSearcher()


class TestAgentReinforceBest(SearcherContract):
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
        space.check(p.graph, allow_single=True)
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
    assert "- single llama-3.1-8b: 0.64" in searcher.data_text
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
