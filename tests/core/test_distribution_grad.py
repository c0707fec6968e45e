import math

import numpy as np
import pytest
from helpers import tiny_space

from suite.core.distribution import GraphDistribution
from suite.core.gradient import grad_log_prob
from suite.core.graph import FINAL, CollabGraph, Node, Role
from suite.search.testing import contract_space

KEYS = ("edge_logits", "role_logits", "model_logits")


def randomised(space, rng, scale=1.0):
    dist = GraphDistribution(space)
    dist.edge_logits = rng.normal(1.0, 1.5 * scale, dist.edge_logits.shape)
    dist.role_logits = rng.normal(0, scale, dist.role_logits.shape)
    dist.model_logits = rng.normal(0, scale, dist.model_logits.shape)
    return dist


def shifted(dist, key, delta):
    out = dist.copy()
    setattr(out, key, getattr(out, key) + delta)
    return out


def central(dist, key, direction, draw, h=1e-5):
    up = shifted(dist, key, h * direction).log_prob(draw.full, draw.order, draw.mix)
    down = shifted(dist, key, -h * direction).log_prob(draw.full, draw.order, draw.mix)
    return (up - down) / (2 * h)


def clipped_role_nearby(dist, draw, margin=1e-3):
    """True when a role probability sits at the min(1, .) kink, where FD is meaningless."""
    for node in draw.full.nodes:
        s = dist.role_probs(node.id)
        if abs(s[1] + dist.fuser_bonus - 1.0) < margin:
            return True
    return False


def test_every_coordinate_matches_finite_differences_on_a_tiny_space():
    space = tiny_space()
    rng = np.random.default_rng(0)
    checked = 0
    for trial in range(60):
        dist = randomised(space, rng)
        draw = dist.sample(rng)
        if clipped_role_nearby(dist, draw):
            continue
        grad = grad_log_prob(dist, draw.full, draw.order)
        for key in KEYS:
            arr = getattr(dist, key)
            for idx in np.ndindex(arr.shape):
                e = np.zeros_like(arr)
                e[idx] = 1.0
                fd = central(dist, key, e, draw)
                assert grad[key][idx] == pytest.approx(fd, abs=1e-6), (trial, key, idx)
        checked += 1
    assert checked >= 50


@pytest.mark.parametrize("use_mix", [False, True])
def test_directional_derivatives_match_on_the_paper_space(use_mix):
    space = contract_space()
    rng = np.random.default_rng(1)
    mixes = space.feasible_mixes()
    nonzero = dict.fromkeys(KEYS, 0)
    for k in range(40):
        dist = randomised(space, rng)
        mix = mixes[k % len(mixes)] if use_mix else None
        draw = dist.sample(rng, mix=mix)
        if clipped_role_nearby(dist, draw):
            continue
        grad = grad_log_prob(dist, draw.full, draw.order, mix)
        for key in KEYS:
            nonzero[key] += bool(np.any(grad[key]))
            for _ in range(2):
                direction = rng.normal(size=getattr(dist, key).shape)
                fd = central(dist, key, direction, draw)
                assert float(np.sum(grad[key] * direction)) == pytest.approx(fd, abs=1e-5)
    assert nonzero["edge_logits"] and nonzero["role_logits"]
    # with a fixed mix the models are not sampled, so they carry no gradient
    assert (nonzero["model_logits"] == 0) == use_mix


def test_gradient_is_zero_where_the_fuser_bonus_clips():
    space = tiny_space()
    dist = GraphDistribution(space)  # zero role logits: softmax[fuser] + 0.5 = 1, clipped
    nodes = [Node("n0", "b"), Node("n1", "s", Role.FUSER)]  # 2 + 1 units: the budget
    graph = CollabGraph.build(nodes, [("n0", "n1"), ("n1", FINAL)], "b")
    order = (0, 1, 2)
    assert math.isfinite(dist.log_prob(graph, order))
    grad = grad_log_prob(dist, graph, order)
    assert np.all(grad["role_logits"][1] == 0.0)  # n1's role is certain
    assert np.any(grad["role_logits"][0] != 0.0)  # n0 is a root: softmax term


def test_impossible_realisation_gets_zero_gradient():
    space = tiny_space()
    dist = GraphDistribution(space)
    dist.role_logits[1] = [0.0, 5.0]  # P(fuser | assistant input) = 1
    # so n1 as an assistant is impossible
    nodes = [Node("n0", "b"), Node("n1", "s")]
    as_assistant = CollabGraph.build(nodes, [("n0", "n1"), ("n1", FINAL)], "b")
    assert dist.log_prob(as_assistant, (0, 1, 2)) == -math.inf
    grad = grad_log_prob(dist, as_assistant, (0, 1, 2))
    assert all(not np.any(g) for g in grad.values())


def test_expected_score_is_zero():
    """E[grad log p] = 0: the score-function identity REINFORCE rests on.

    log_prob ignores the sampler's redraws (no edge into final, broken role rules), so the
    identity holds only where nothing is redrawn: edges into final are made certain and
    roots assistants, as in test_distribution's chi-square test.
    """
    space = tiny_space()
    rng = np.random.default_rng(5)
    dist = randomised(space, rng, scale=0.5)
    for k, (_, dst) in enumerate(space.candidate_edges):
        if dst == FINAL:
            dist.edge_logits[k] = 50.0
    dist.role_logits[:, 1] = -50.0
    total = {k: np.zeros_like(getattr(dist, k)) for k in KEYS}
    n = 4000
    for _ in range(n):
        draw = dist.sample(rng)
        for k, g in grad_log_prob(dist, draw.full, draw.order).items():
            total[k] += g
    for k in KEYS:
        assert np.abs(total[k] / n).max() < 0.06, k
