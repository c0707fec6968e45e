"""The agent LLM clients: the OpenAI-compatible client against a local server that injects
faults, the key never leaking, and the metered wrapper."""

import http.server
import json
import threading

import pytest

from suite.core.errors import BackendError
from suite.core.meter import Meter
from suite.search.agents import MeteredAgent, OpenAIAgent
from suite.search.searcher import AgentRequest

KEY = "sk-planted-test-key-0123456789"


class Handler(http.server.BaseHTTPRequestHandler):
    script: list[int] = []  # noqa: RUF012 (shared with the test through the class)
    seen: list[tuple] = []  # noqa: RUF012

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.seen.append((self.path, dict(self.headers), body))
        status = Handler.script.pop(0) if Handler.script else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if status == 200:
            reply = {
                "choices": [{"message": {"content": "Graph:\nNode n0 | ..."}}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7},
            }
            self.wfile.write(json.dumps(reply).encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    Handler.script, Handler.seen = [], []
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def request():
    return AgentRequest("update", (("system", "s"), ("user", "u")))


def test_chat_with_retries_on_5xx_and_429(server, monkeypatch):
    monkeypatch.setenv("TEST_AGENT_KEY", KEY)
    Handler.script = [503, 429, 200]
    agent = OpenAIAgent("deepseek-r1", server, api_key_env="TEST_AGENT_KEY", retries=3)
    monkeypatch.setattr("suite.search.agents.time.sleep", lambda s: None)
    reply = agent.ask(request())
    assert reply.text.startswith("Graph:") and reply.prompt_tokens == 11
    assert len(Handler.seen) == 3
    path, headers, body = Handler.seen[-1]
    assert path == "/v1/chat/completions" and body["model"] == "deepseek-r1"
    assert body["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
    ]
    assert headers["Authorization"] == f"Bearer {KEY}"


def test_gives_up_with_one_line_naming_model_and_endpoint(server, monkeypatch):
    monkeypatch.setenv("TEST_AGENT_KEY", KEY)
    monkeypatch.setattr("suite.search.agents.time.sleep", lambda s: None)
    Handler.script = [500] * 10
    agent = OpenAIAgent("deepseek-r1", server, api_key_env="TEST_AGENT_KEY", retries=2)
    with pytest.raises(BackendError) as err:
        agent.ask(request())
    message = str(err.value)
    assert "deepseek-r1" in message and server in message and "HTTP 500" in message
    assert KEY not in message and "\n" not in message
    assert len(Handler.seen) == 3


def test_client_errors_are_not_retried(server, monkeypatch):
    Handler.script = [401]
    agent = OpenAIAgent("m", server, retries=3)
    with pytest.raises(BackendError, match="HTTP 401"):
        agent.ask(request())
    assert len(Handler.seen) == 1


def test_unreachable_endpoint(monkeypatch):
    monkeypatch.setattr("suite.search.agents.time.sleep", lambda s: None)
    agent = OpenAIAgent("m", "http://127.0.0.1:9/v1", retries=1, timeout_s=2)
    with pytest.raises(BackendError, match=r"127\.0\.0\.1:9"):
        agent.ask(request())


def test_metered_agent_charges_the_agent_tally(server):
    meter = Meter(30)
    agent = MeteredAgent(OpenAIAgent("m", server), meter)
    agent.ask(request())
    tally = meter.tally("agent")
    assert (tally.calls, tally.prompt_tokens, tally.output_tokens) == (1, 11, 7)
    assert meter.tally("search").question_evals == 0


def _limits_by_graph(ids, edges, limits=True):
    """The heuristic's edge rule computed on a built CollabGraph (the reference)."""
    from suite.core.graph import FINAL, CollabGraph, Node
    from suite.search import heuristics

    graph = CollabGraph.build([Node(i, "m") for i in ids], edges, "m")
    try:
        depths = graph.depths()
    except Exception:  # a cycle
        return False
    indeg_ok = all(len(graph.preds(i)) <= heuristics.MAX_IN_DEGREE for i in [*ids, FINAL])
    return not limits or (indeg_ok and max(depths.values()) <= heuristics.MAX_DEPTH)


def test_the_fast_edge_rules_agree_with_built_graphs():
    """_ok and _deeper run on plain dicts for speed; they must decide as built graphs do."""
    import random

    from suite.core.graph import FINAL, CollabGraph, Node
    from suite.search import heuristics

    rng = random.Random(0)
    checked = deepened = 0
    for _ in range(3000):
        ids = [f"n{i}" for i in range(rng.randint(0, 8))]
        edges = []
        for _ in range(rng.randint(0, 12) if ids else 0):
            src, dst = rng.choice(ids), rng.choice([*ids, FINAL])
            if src != dst:
                edges.append((src, dst))
        for limits in (True, False):
            assert heuristics._ok(ids, edges, limits) == _limits_by_graph(ids, edges, limits)
            checked += 1
        if heuristics._ok(ids, edges, False):  # acyclic: compare _deeper with the slow search
            graph = CollabGraph.build([Node(i, "m") for i in ids], edges, "FinalDecision")
            slow = graph
            for src in ids:
                added = [
                    (src, dst) for dst in ids
                    if src != dst and (src, dst) not in graph.edges
                    and _limits_by_graph(ids, [*graph.edges, (src, dst)])
                ]  # fmt: skip
                if added:
                    slow = CollabGraph.build(graph.nodes, [*graph.edges, added[0]], "FinalDecision")
                    break
            assert heuristics._deeper(graph, 0, {}) == slow
            deepened += slow != graph
    assert checked == 6000 and deepened > 100
    with pytest.raises(Exception, match="self-loop"):
        heuristics._ok(["n0"], [("n0", "n0")])
