"""Invariants of the simulated world, checked over many graphs the searchers can propose.

Three checks (issue #16, part 3): no graph below chance on a multiple-choice task while its
prompts fit the model's real window; the best known graph per budget never gets worse as the
budget grows; a fan-in of k copies of a model into ``final`` rises, then levels off, and
falls by at most a few points past its optimum (the published voting curves' shape).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import yaml

from suite.config import CONF_DIR, build_space
from suite.core.cost import TokenProfile
from suite.core.distribution import GraphDistribution
from suite.core.errors import InfeasibleGraphError
from suite.core.graph import CollabGraph
from suite.core.space import GraphSpace
from suite.core.topologies import layered, parallel
from suite.prompts import HERE as PROMPTS_DIR
from suite.sim.world import PROFILE_DIR, SimWorld, TaskProfile, expected_accuracy, load_profiles

EVIDENCE_DIR = PROFILE_DIR / "evidence"
BUDGETS = (6, 12, 24, 48)
EDGE_SHIFTS = (2.0, 0.0, -2.0)
"""Sparse (the searchers' prior, p about 0.12), even, and dense edge draws."""
BEST_SLACK = 0.02
"""Best-per-budget may dip by sampling noise of the population (2 points), no more."""
FLOOR_SLACK = 0.01
"""A graph may sit this far under chance before it counts (sampling noise)."""
FANIN_DECLINE = 0.10
"""Most a fan-in may lose past its optimum. Chen et al. 2024 (Are More LLM Calls All You
Need?) show declines of a few points; the paper's Insight 2 needs a visible one."""
FANIN_WIDTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48)


@dataclass(frozen=True)
class Violation:
    """One broken invariant: which check, on which task, and what was seen."""

    check: str
    task: str
    detail: str


def pool_space(pool: str, task: str, profile: TaskProfile, units: int) -> GraphSpace:
    """The task's GraphSpace at a budget, from the pool config."""
    cfg = yaml.safe_load((CONF_DIR / "pool" / f"{pool}.yaml").read_text())
    return build_space(cfg, task, TokenProfile(profile.input_tokens, profile.output_tokens), units)


def sample_graphs(sp: GraphSpace, n: int, seed: int) -> Iterator[CollabGraph]:
    """``n`` graphs a searcher can propose: random feasible mixes, sparse to dense edges."""
    rng = np.random.default_rng(seed)
    mixes = sp.feasible_mixes()
    dists = [GraphDistribution(sp, edge_shift=s) for s in EDGE_SHIFTS]
    made = 0
    while made < n:
        dist = dists[made % len(dists)]
        mix = mixes[int(rng.integers(len(mixes)))] if made % 2 else None
        try:
            graph = dist.sample(rng, mix).graph
        except InfeasibleGraphError:
            continue
        made += 1
        yield graph


def chance(task: str) -> float | None:
    """Chance accuracy of a multiple-choice task (None for open-answer tasks).

    A task is multiple-choice when its prompts file writes sim answers as letters; chance is
    one over the number of options it lists.
    """
    path = PROMPTS_DIR / "tasks" / f"{task}.yaml"
    sim = yaml.safe_load(path.read_text()).get("sim", {}) if path.exists() else {}
    if sim.get("kind") != "letter":
        return None
    return 1.0 / len(sim["answers"])


def max_prompt_tokens(profile: TaskProfile, graph: CollabGraph) -> int:
    """Tokens of the longest prompt any node of the graph reads."""
    widest = max((len(graph.preds(i)) for i in graph.node_ids), default=0)
    widest = max(widest, len(graph.preds("final")))
    return profile.input_tokens + widest * profile.output_tokens


def canonical_graphs(sp: GraphSpace) -> list[CollabGraph]:
    """Two canonical layouts of every feasible mix: the fan-in and a square-ish layered mesh.

    The full canonical family has thousands of graphs at 48 units, too many for a check that
    runs in the tests.
    """
    out = []
    for mix in sp.feasible_mixes():
        models = [m for m, c in zip(sp.model_names, mix, strict=True) for _ in range(c)]
        width = max(1, round(len(models) ** 0.5))
        for g in (parallel(models, sp.final_model), layered(models, width, sp.final_model)):
            if sp.is_feasible(g):
                out.append(g)
    return out


def real_window(pool: str, profile: TaskProfile) -> int:
    """The smallest real context window of the pool's models, from its evidence file.

    A pool without an evidence file falls back to the profile's own ``context_tokens``.
    """
    path = EVIDENCE_DIR / f"{pool}.yaml"
    if path.exists():
        windows = yaml.safe_load(path.read_text()).get("context_windows") or {}
        if windows:
            return min(int(v) for v in windows.values())
    return min(m.context_tokens for m in profile.models.values())


def below_chance(
    w: SimWorld, graphs: Sequence[CollabGraph], accs: Sequence[float], window: int
) -> list[Violation]:
    """Graphs under chance on a multiple-choice task whose every prompt fits ``window``."""
    floor = chance(w.task)
    if floor is None:
        return []
    return [
        Violation("below_chance", w.task, f"{acc:.3f} < {floor:.2f}: {g.describe()}")
        for g, acc in zip(graphs, accs, strict=True)
        if acc < floor - FLOOR_SLACK and max_prompt_tokens(w.profile, g) <= window
    ]


def fanin_curve(w: SimWorld, model: str, final: str, n_questions: int) -> list[float]:
    """Accuracy of k copies of ``model`` into ``final``, for each k in FANIN_WIDTHS."""
    return [expected_accuracy(w, parallel([model] * k, final), n_questions) for k in FANIN_WIDTHS]


def fanin_violations(w: SimWorld, final: str, n_questions: int) -> list[Violation]:
    """Fan-ins that fall too far past their peak, or (plain voting) never rise over one node.

    Every model's fan-in into ``final`` may fall at most FANIN_DECLINE past its peak; the fan-in
    of the final's own model is plain voting, which must beat one node (Li et al. 2024).
    """
    out = []
    for model in w.profile.models:
        curve = fanin_curve(w, model, final, n_questions)
        peak = int(np.argmax(curve))
        drop = curve[peak] - min(curve[peak:])
        text = " ".join(f"{a:.3f}" for a in curve)
        if drop > FANIN_DECLINE:
            out.append(Violation("fanin_decline", w.task, f"{model}: {text}"))
        if model == final and curve[peak] <= curve[0] + 0.005:
            out.append(Violation("fanin_rises", w.task, f"{model} votes never beat one: {text}"))
    return out


def check_task(
    pool: str, task: str, *, graphs_per_budget: int, n_questions: int, seed: int = 0
) -> tuple[list[Violation], dict[int, float]]:
    """Every invariant on one task; returns the violations and the best known per budget."""
    profile = load_profiles(pool)[task]
    w = SimWorld(task, profile, 0)
    out: list[Violation] = []
    best: dict[int, float] = {}
    window = real_window(pool, profile)
    for units in BUDGETS:
        sp = pool_space(pool, task, profile, units)
        graphs = list(sample_graphs(sp, graphs_per_budget, seed + units)) + canonical_graphs(sp)
        accs = [expected_accuracy(w, g, n_questions) for g in graphs]
        out += below_chance(w, graphs, accs, window)
        best[units] = max(accs)
    for small, big in itertools.pairwise(BUDGETS):
        if best[big] < best[small] - BEST_SLACK:
            detail = f"best at {big} units {best[big]:.3f} < at {small} units {best[small]:.3f}"
            out.append(Violation("best_per_budget", task, detail))
    final = pool_space(pool, task, profile, BUDGETS[0]).final_model
    out += fanin_violations(w, final, n_questions)
    return out, best
