"""GPTSwarm-style REINFORCE with a budget, the paper's ``OptimizedSwarm`` baseline (PAPER.md §5).

Policy gradient with Adam on the shared distribution's edge, role and model logits, and the
paper's rule for extracting one final graph from the learned probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from suite.core.distribution import GraphDistribution
from suite.core.errors import ConfigError
from suite.core.extract import extract
from suite.core.gradient import Adam, reinforce_grad
from suite.core.graph import CollabGraph
from suite.search.searcher import (
    RECOMMEND,
    BestSoFar,
    Observation,
    Proposal,
    SearchContext,
    Searcher,
    check_choice,
    policy_sample,
)


class ReinforceSearcher(Searcher):
    """REINFORCE over all logits; one sampled graph per question; Adam after each batch.

    Per proposal (PAPER.md §5 step 1): sample a realisation from the distribution (models
    sampled too, so the model logits learn), then ``space.repair`` it: smallest-class nodes
    are deleted while the FLOPs cap is exceeded and fusers that lost their assistant input
    are demoted. Nodes with no path to ``final`` stay in the graph unused: not run, not
    charged (PAPER.md §8; ``info["unused"]`` lists them). The proposal asks for one
    question. The update uses log p and its gradient of the *sampled* realisation, even
    where repair changed the executed graph (as GPTSwarm scores its ``realize()`` draw).

    After ``batch`` observations (steps 2-3): one Adam step on the loss
    ``-mean(log p(G_i) * (u_i - b))``, with ``b = 0`` (the paper) or a moving average.

    Args:
        lr: Adam learning rate (the paper: 0.1).
        batch: Questions (= sampled graphs) per update; None means the run's ``batch_size``.
        baseline: ``none`` (the paper) or ``moving_average`` (GPTSwarm's original): a
            bias-corrected exponential average of earlier batches' mean utility.
        baseline_decay: The moving average's decay per batch.
        recommend: ``extracted`` (the paper's §5 step 4), ``best`` or ``last`` observed graph.
        edge_threshold: Extraction keeps edges with p above this (0.55).
        max_out_edges: Extraction's limit on a node's out-edges (2).
        link_threshold: Extraction links unreachable nodes over edges with p >= this (0.2).
        mask_threshold: Extraction first realises each node's top out-edges among those
            with p above this (the official code's 0.0: every node's top two).
    """

    name: ClassVar[str] = "reinforce"

    def __init__(
        self,
        lr: float = 0.1,
        batch: int | None = None,
        baseline: str = "none",
        baseline_decay: float = 0.9,
        recommend: str = "extracted",
        edge_threshold: float = 0.55,
        max_out_edges: int = 2,
        link_threshold: float = 0.2,
        mask_threshold: float = 0.0,
        **unknown: Any,
    ) -> None:
        super().__init__(**unknown)
        # Types were checked by the schema (suite/config/schema.py ReinforceSchema); ranges here.
        if lr <= 0:
            raise ConfigError(f"searcher.lr must be a positive number, got {lr!r}")
        if batch is not None and batch < 1:
            raise ConfigError(f"searcher.batch must be null or an integer >= 1, got {batch!r}")
        check_choice("baseline", baseline, ("none", "moving_average"))
        if not 0.0 <= baseline_decay < 1.0:
            raise ConfigError(f"searcher.baseline_decay must be in [0, 1), got {baseline_decay!r}")
        check_choice("recommend", recommend, ("extracted", *RECOMMEND))
        for key, value in (
            ("edge_threshold", edge_threshold),
            ("link_threshold", link_threshold),
            ("mask_threshold", mask_threshold),
        ):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"searcher.{key} must be a probability in [0, 1], got {value!r}")
        if max_out_edges < 1:
            raise ConfigError(
                f"searcher.max_out_edges must be an integer >= 1, got {max_out_edges!r}"
            )
        self.lr, self.batch_option, self.baseline = float(lr), batch, baseline
        self.baseline_decay, self.recommend_mode = float(baseline_decay), recommend
        self.thresholds = (float(edge_threshold), int(max_out_edges), float(link_threshold))
        self.mask_threshold = float(mask_threshold)

    def setup(self, ctx: SearchContext) -> None:
        """Zero logits (PAPER.md §4), zero Adam moments, and a fixed seed for extraction."""
        super().setup(ctx)
        self._dist = GraphDistribution(ctx.space)
        self._batch = self.batch_option or ctx.batch_size
        self._adam = Adam(self._dist, self.lr)
        self._avg, self._avg_n = 0.0, 0  # moving average of batch utilities, batches averaged
        self._drawn: dict[int, dict[str, np.ndarray]] = {}  # asked: grad log p at sample time
        self._batch_grads: list[tuple[dict[str, np.ndarray], float, float]] = []
        self._last_update: dict[str, float] | None = None
        # extraction draws its own shuffle and roles: recommend() is repeatable and leaves
        # the search's generator alone
        self._extract_seed = int(ctx.rng.integers(2**63 - 1))
        self._seen = BestSoFar()

    # ---- ask/tell ----------------------------------------------------------------------------
    def _propose(self, number: int) -> Proposal:
        # §5 step 1: each question gets its own graph
        graph, self._drawn[number], info = policy_sample(self._dist, self.ctx.rng)
        info["iteration"] = number // self._batch
        if self._last_update is not None:
            info["update"], self._last_update = self._last_update, None
        return Proposal(graph, number, 1, info)

    def _observe(self, proposal: Proposal, observation: Observation) -> None:
        self._seen.observe(proposal.graph, observation.reward, self.ctx.rng)
        grad = self._drawn.pop(proposal.number)
        self._batch_grads.append((grad, observation.reward, float(proposal.info["log_prob"])))
        if len(self._batch_grads) >= self._batch:
            self._update()

    def _update(self) -> None:
        """§5 steps 2-3: one Adam step on the loss -mean(log p(G_i) * (u_i - b))."""
        grads = [g for g, _, _ in self._batch_grads]
        utilities = np.array([u for _, u, _ in self._batch_grads])
        log_probs = np.array([lp for _, _, lp in self._batch_grads])
        b = self._baseline_value()
        weights = utilities - b
        self._adam.step(self._dist, reinforce_grad(grads, list(weights)))
        self._last_update = {
            "step": self._adam.steps,
            "loss": -float(np.mean(log_probs * weights)),
            "baseline": b,
            "utility": float(utilities.mean()),
        }
        if self.baseline == "moving_average":
            decay = self.baseline_decay
            self._avg = decay * self._avg + (1 - decay) * float(utilities.mean())
            self._avg_n += 1
        self._batch_grads = []

    def _baseline_value(self) -> float:
        """0, or the bias-corrected moving average of earlier batches (0 before the first)."""
        if self.baseline == "none" or self._avg_n == 0:
            return 0.0
        return self._avg / (1 - self.baseline_decay**self._avg_n)

    # ---- the result --------------------------------------------------------------------------
    @property
    def distribution(self) -> GraphDistribution:
        """The learned distribution (read it; the searcher owns its updates)."""
        return self._dist

    def recommend(self) -> CollabGraph:
        """The extracted graph (§5 step 4), or the best / last observed with that option."""
        chosen = self._seen.chosen(self.recommend_mode)
        if chosen is not None:
            return chosen
        edge_thr, max_out, link_thr = self.thresholds
        rng = np.random.default_rng(self._extract_seed)
        return extract(self._dist, rng, edge_thr, max_out, link_thr, self.mask_threshold)

    # ---- state -------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "dist": self._dist.state(),
            "adam": self._adam.state(),
            "baseline": {"avg": self._avg, "n": self._avg_n},
            "drawn": {str(k): _lists(g) for k, g in self._drawn.items()},
            "batch": [[_lists(g), u, lp] for g, u, lp in self._batch_grads],
            "last_update": self._last_update,
            "extract_seed": self._extract_seed,
            **self._seen.state(),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._dist = GraphDistribution.from_state(self.ctx.space, dict(state["dist"]))
        self._adam.load_state(state["adam"])
        self._avg, self._avg_n = float(state["baseline"]["avg"]), int(state["baseline"]["n"])
        self._drawn = {int(k): _arrays(g) for k, g in state["drawn"].items()}
        self._batch_grads = [(_arrays(g), float(u), float(lp)) for g, u, lp in state["batch"]]
        self._last_update = None if state["last_update"] is None else dict(state["last_update"])
        self._extract_seed = int(state["extract_seed"])
        self._seen.load_state(state)


def _lists(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    return {k: a.tolist() for k, a in arrays.items()}


def _arrays(lists: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=float) for k, v in lists.items()}
