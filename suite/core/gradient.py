"""The analytic gradient of a GraphDistribution's log-probability, and REINFORCE's Adam step (§5).

Kept apart from :mod:`suite.core.distribution`, which owns sampling and scoring (and does not
import this module); this one differentiates what ``log_prob`` computes, term by term, over the
same walks, and holds the optimiser REINFORCE and the MaaoSwarm hybrid share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from suite.core.distribution import ROLES, GraphDistribution
from suite.core.graph import CollabGraph, Role
from suite.core.space import Mix

PARAMS = ("edge_logits", "role_logits", "model_logits")
"""The distribution's logit arrays, by attribute name: what the gradient and Adam act on."""
_BETAS, _EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, which GPTSwarm uses


def grad_log_prob(
    dist: GraphDistribution, full: CollabGraph, order: Sequence[int], mix: Mix | None = None
) -> dict[str, np.ndarray]:
    """The gradient of :meth:`GraphDistribution.log_prob` w.r.t. the edge, role and model logits.

    Call it with a distribution and a realisation it drew (``draw.full``, ``draw.order``).

    Each term of ``log_prob`` is differentiated where it is computed: an edge decision
    adds ``1 - p`` (taken) or ``-p`` (not taken) to its logit; a model pick adds
    ``onehot - softmax`` over the affordable models; a root's role adds ``onehot - softmax``;
    a node with assistant inputs has ``P(fuser) = min(1, softmax[fuser] + bonus)``, whose
    gradient is 0 where the min clips, as is a role forced by a fuser input. Realisations
    the sampler cannot produce (``log_prob = -inf``) get an all-zero gradient.

    Returns:
        Arrays shaped like the three logit arrays, keyed by their attribute names.
    """
    grad = {
        "edge_logits": np.zeros_like(dist.edge_logits),
        "role_logits": np.zeros_like(dist.role_logits),
        "model_logits": np.zeros_like(dist.model_logits),
    }
    if not math.isfinite(dist.log_prob(full, order, mix)):
        return grad
    if mix is None:
        _grad_models(dist, full, order, grad["model_logits"])
    index = dist.space.edge_index
    for edge, taken in dist.edge_decisions(full):
        grad["edge_logits"][index[edge]] += float(taken) - dist.edge_prob(*edge)
    _grad_roles(dist, full, grad["role_logits"])
    return grad


def _grad_models(
    dist: GraphDistribution, full: CollabGraph, order: Sequence[int], out: np.ndarray
) -> None:
    """Model-pick terms of :func:`grad_log_prob` (restricted softmax per slot)."""
    picks = dist.space.replay_models(order, {n.id: n.model for n in full.nodes})
    for pick in picks:
        affordable = list(pick.affordable)
        out[pick.slot, affordable] -= dist.model_probs(pick.node_id, affordable)
        out[pick.slot, pick.model] += 1.0


def _grad_roles(dist: GraphDistribution, full: CollabGraph, out: np.ndarray) -> None:
    """Role terms of :func:`grad_log_prob`, in the order ``log_prob`` visits them."""
    live = full.reaches_final()
    roles = {n.id: n.role for n in full.nodes if n.id in live}
    for layer in full.layers()[:-1]:
        for i in layer:
            if i not in roles:
                continue
            pred_roles = [roles[p] for p in full.preds(i) if p in roles]
            if Role.FUSER in pred_roles:
                continue  # forced assistant: probability 1, no parameters
            slot, probs = dist.space.slot_index[i], dist.role_probs(i)
            if not pred_roles:
                out[slot] -= probs
                out[slot, ROLES.index(roles[i])] += 1.0
                continue
            if probs[1] + dist.fuser_bonus >= 1.0:
                continue  # min(1, .) clips: P(fuser) = 1 whatever the logits
            d_fuser = probs[0] * probs[1] * np.array([-1.0, 1.0])  # d softmax[fuser]
            if roles[i] is Role.FUSER:
                out[slot] += d_fuser / (probs[1] + dist.fuser_bonus)
            else:
                out[slot] -= d_fuser / (1.0 - probs[1] - dist.fuser_bonus)


def reinforce_grad(
    grads: Sequence[Mapping[str, np.ndarray]], weights: Sequence[float]
) -> dict[str, np.ndarray]:
    """The gradient of the loss ``-mean(w_i * log p(G_i))`` (PAPER.md §5 step 2).

    Args:
        grads: :func:`grad_log_prob` of each draw, taken when it was sampled.
        weights: Each draw's utility minus the baseline (the paper: no baseline).
    """
    return {
        k: -np.mean([w * g[k] for g, w in zip(grads, weights, strict=True)], axis=0) for k in PARAMS
    }


class Adam:
    """``torch.optim.Adam`` with its defaults, descending a loss on a distribution's logits.

    Holds only the moments and the step count; the caller passes the distribution to
    :meth:`step` and keeps :meth:`state` with its checkpoint.
    """

    def __init__(self, dist: GraphDistribution, lr: float) -> None:
        self.lr = lr
        self.steps = 0
        self.m = {k: np.zeros_like(getattr(dist, k)) for k in PARAMS}
        self.v = {k: np.zeros_like(getattr(dist, k)) for k in PARAMS}

    def step(self, dist: GraphDistribution, loss_grad: Mapping[str, np.ndarray]) -> None:
        """One update of every logit array of ``dist`` against ``loss_grad``."""
        self.steps += 1
        b1, b2 = _BETAS
        for key in PARAMS:
            g = loss_grad[key]
            self.m[key] = b1 * self.m[key] + (1 - b1) * g
            self.v[key] = b2 * self.v[key] + (1 - b2) * g * g
            m_hat = self.m[key] / (1 - b1**self.steps)
            v_hat = self.v[key] / (1 - b2**self.steps)
            setattr(dist, key, getattr(dist, key) - self.lr * m_hat / (np.sqrt(v_hat) + _EPS))

    def state(self) -> dict[str, Any]:
        """JSON-able step count and moments."""
        return {
            "step": self.steps,
            "m": {k: a.tolist() for k, a in self.m.items()},
            "v": {k: a.tolist() for k, a in self.v.items()},
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state`."""
        self.steps = int(state["step"])
        self.m = {k: np.array(a, dtype=float) for k, a in state["m"].items()}
        self.v = {k: np.array(a, dtype=float) for k, a in state["v"].items()}
