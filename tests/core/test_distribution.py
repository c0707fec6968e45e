import math
import re
from collections import Counter

import numpy as np
import pytest
from helpers import tiny_space
from scipy import stats

from suite.core.distribution import GraphDistribution
from suite.core.errors import ProposalParseError
from suite.core.graph import FINAL, Role
from suite.search.testing import contract_space


def test_initial_edge_probability_is_the_papers():
    dist = GraphDistribution(contract_space())
    assert dist.edge_prob("n0", "n1") == pytest.approx(0.1192, abs=1e-4)


@pytest.mark.parametrize("use_mix", [False, True])
def test_log_prob_agrees_with_sample(use_mix):
    space = contract_space()
    dist = GraphDistribution(space)
    rng = np.random.default_rng(0)
    dist.edge_logits = rng.normal(0, 1.5, dist.edge_logits.shape)
    dist.role_logits = rng.normal(0, 1.0, dist.role_logits.shape)
    dist.model_logits = rng.normal(0, 1.0, dist.model_logits.shape)
    mixes = space.feasible_mixes()
    for k in range(150):
        mix = mixes[k % len(mixes)] if use_mix else None
        draw = dist.sample(rng, mix=mix)
        assert math.isfinite(draw.log_prob)
        assert dist.log_prob(draw.full, draw.order, mix) == pytest.approx(draw.log_prob, abs=1e-9)
        draw.graph.validate()
        assert space.units(draw.full) <= space.budget_units
        if use_mix:
            assert space.mix_of(draw.full) == mix


@pytest.mark.slow
def test_empirical_frequencies_match_probabilities():
    space = tiny_space()
    dist = GraphDistribution(space)
    for src, dst in space.candidate_edges:  # edges into final are certain: no redraws
        dist.edge_logits[space.candidate_edges.index((src, dst))] = 50.0 if dst == FINAL else 1.5
    dist.role_logits[:, 1] = -50.0  # roots are assistants: no role retries
    dist.model_logits[:, 1] = 0.7
    rng = np.random.default_rng(1)
    n = 20000
    counts = Counter()
    realised = {}
    for _ in range(n):
        draw = dist.sample(rng)
        key = (draw.order, draw.full.to_json())
        counts[key] += 1
        realised[key] = draw
    # the shuffled order is uniform and, as in the paper, not part of log p(G)
    p_order = 1 / math.factorial(space.max_nodes)
    probs = {k: p_order * math.exp(dist.log_prob(d.full, d.order)) for k, d in realised.items()}
    assert sum(probs.values()) == pytest.approx(1.0, abs=0.01)  # nothing frequent is missed
    keys = sorted(counts)
    observed = [counts[k] for k in keys] + [0]
    expected = [probs[k] * n for k in keys] + [max(0.0, (1 - sum(probs.values()))) * n]
    expected[-1] = n - sum(expected[:-1])
    pooled_obs, pooled_exp = [0, 0], [0.0, 0.0]
    obs, exp = [], []
    for o, e in zip(observed, expected, strict=True):  # pool rare cells for the chi-square
        if e < 5:
            pooled_obs[0] += o
            pooled_exp[0] += e
        else:
            obs.append(o)
            exp.append(e)
    if pooled_exp[0] > 0:
        obs.append(pooled_obs[0])
        exp.append(pooled_exp[0])
    assert stats.chisquare(obs, exp).pvalue > 0.001


def test_roles_follow_the_papers_rules():
    dist = GraphDistribution(contract_space())
    rng = np.random.default_rng(2)
    dist.edge_logits[:] = 2.0  # p = 0.5: deeper graphs
    fusers = 0
    for _ in range(200):
        graph = dist.sample(rng).graph
        graph.validate()
        for node in graph.nodes:
            preds = [graph.node(p).role for p in graph.preds(node.id)]
            if preds and Role.FUSER not in preds:
                # zero role logits: P(fuser) = min(1, 0.5 + 0.5) = 1 when all inputs are assistants
                assert node.role is Role.FUSER
            fusers += node.role is Role.FUSER
    assert fusers > 0


def test_table_round_trip_and_parse_errors():
    space = contract_space()
    dist = GraphDistribution(space)
    rng = np.random.default_rng(3)
    dist.edge_logits = rng.normal(0, 2, dist.edge_logits.shape)
    dist.role_logits = rng.normal(0, 1, dist.role_logits.shape)
    dist.model_logits = rng.normal(0, 1, dist.model_logits.shape)
    table = dist.as_table()
    again = GraphDistribution(space).from_table(table)
    edges_roles, _, models = table.partition("Model-probabilities:")
    edges_roles2, _, models2 = again.as_table().partition("Model-probabilities:")
    assert edges_roles2 == edges_roles  # 3-decimal probabilities survive exactly
    values = [float(v) for v in re.findall(r"=([0-9.]+)", models)]
    values2 = [float(v) for v in re.findall(r"=([0-9.]+)", models2)]
    assert values2 == pytest.approx(values, abs=2e-3)  # softmax renormalises rounded values
    assert again.edge_prob("n3", "n5") == pytest.approx(dist.edge_prob("n3", "n5"), abs=6e-4)
    sub = dist.as_table(["n0", "n2"])
    assert "src=n0, dst=n2" in sub and "n1" not in sub
    with pytest.raises(ProposalParseError):
        dist.from_table("0: src=n5, dst=n6, prob=0.5")
    with pytest.raises(ProposalParseError):
        dist.from_table("0: src=n0, dst=n1, prob=1.7")
    with pytest.raises(ProposalParseError):
        dist.from_table("n99: fuser=0.5")


def test_state_round_trip_and_mode():
    space = contract_space()
    dist = GraphDistribution(space)
    dist.edge_logits[:] = np.linspace(-3, 5, len(dist.edge_logits))
    copy = GraphDistribution.from_state(space, dist.state())
    assert copy.as_table() == dist.as_table()
    mode = copy.mode()
    space.check(mode)
    draw = copy.sample(np.random.default_rng(4))
    assert copy.log_prob(draw.full, draw.order) == pytest.approx(draw.log_prob)
