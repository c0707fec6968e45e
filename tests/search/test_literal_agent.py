"""A literal agent that copies the graph and table it is shown, changing one edge a round,
drives whole agent_reinforce and textgrad searches on every sim task with no fallback.

It reads only the prompt text, so it fails wherever the graph, the edge table and the reply
parser disagree about node ids (issue #12 item 1: sampler slot ids such as n8, n11 in the
iteration-0 and fallback graphs against an n0..n{k-1} table).
"""

import json
import re

import pytest
import yaml

from suite.app import cli
from suite.app.cell import execute
from suite.config import registry
from suite.search.searcher import AgentReply

ROW = re.compile(r"^(\d+): src=(\w+), dst=(\w+), prob=([0-9.]+)$")
NODE = re.compile(r"^Node (\w+) \|.*\| preds=\[([^\]]*)\] \|.*$")


class LiteralAgent:
    """Copies what it is shown; each update round flips the next table edge in the graph."""

    def __init__(self) -> None:
        self.rounds = 0

    @property
    def name(self):
        return "literal"

    @classmethod
    def create(cls, options, space):
        return cls()

    def ask(self, request):
        user = request.messages[-1][1]
        if "Candidate model mixes" in user:  # copy the first two candidates
            block = user.split("Candidate model mixes")[1].split("Reply with")[0]
            text = "\n".join(re.findall(r"\{[^{}]*\}", block)[:2])
        else:
            text = self.update(user)
        return AgentReply(text, 1, 1)

    def update(self, user):
        graph = user.split("Last-round graph:\n")[1].split("\nLast-round edge-probabilities:")[0]
        table = user.split("Last-round edge-probabilities:\n")[1].split("\n\nRules:")[0]
        lines, rows = graph.splitlines(), table.splitlines()
        for _ in range(len(rows)):  # the next edge whose flip keeps the graph acyclic
            k, src, dst, _p = ROW.match(rows[self.rounds % len(rows)]).groups()
            self.rounds += 1
            flipped, added = flip(lines, src, dst)
            if flipped is not None:
                rows = [
                    f"{k}: src={src}, dst={dst}, prob={0.9 if added else 0.1:.3f}"
                    if r.startswith(f"{k}:")
                    else r
                    for r in rows
                ]
                lines = flipped
                break
        return "Graph:\n" + "\n".join(lines) + "\nEdge-probabilities:\n" + "\n".join(rows)


def flip(lines, src, dst):
    """Add or remove ``src`` in ``dst``'s preds; None when the result would have a cycle."""
    preds = {
        m[1]: [p.strip() for p in m[2].split(",") if p.strip()] for m in map(NODE.match, lines)
    }
    added = src not in preds[dst]
    preds[dst] = [*preds[dst], src] if added else [p for p in preds[dst] if p != src]
    if added and reaches(preds, dst, src):
        return None, added
    out = [
        re.sub(r"preds=\[[^\]]*\]", f"preds=[{', '.join(preds[NODE.match(ln)[1]])}]", ln)
        for ln in lines
    ]
    return out, added


def reaches(preds, start, goal):
    """True when ``goal`` is downstream of ``start`` (a path start -> ... -> goal)."""
    succs = {n: [d for d, ps in preds.items() if n in ps] for n in preds}
    todo, seen = [start], set()
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo += succs.get(node, [])
    return False


@pytest.mark.slow  # whole searches on every task
@pytest.mark.parametrize("searcher", ["agent_reinforce", "textgrad"])
@pytest.mark.parametrize("task", ["mmlu", "math_synthetic", "humaneval", "gsm8k_synthetic"])
def test_a_literal_agent_never_falls_back(tmp_path, monkeypatch, searcher, task):
    monkeypatch.setitem(registry.REGISTRY["agent"], "heuristic", f"{__name__}:LiteralAgent")
    data = cli.compose(
        [f"results_dir={tmp_path}", f"searcher={searcher}", f"task={task}", "test_n=3"]
    )
    run_dir = tmp_path / task / searcher / "run-s0"
    record = execute(data, yaml.safe_dump(data), run_dir, quiet=True)
    assert record is not None and record["status"] == "completed"
    trials = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    rounds = [t["info"] for t in trials if t["info"].get("phase") == "loop"]
    updates = [i for i in rounds if i["iteration"] > 0]
    assert len(updates) >= 2, f"only {len(updates)} agent rounds"
    assert [i for i in updates if "fallback" in i or i["parse_errors"]] == []
    assert all(i["agent_attempts"] == 1 for i in updates)
    assert all(t["graph"]["nodes"] for t in trials if t["info"].get("phase") == "loop")
