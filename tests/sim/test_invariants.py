"""The sim's invariants (issue #16 part 3) on the fitted llama3 profile, and the joint fit."""

from dataclasses import replace

import numpy as np
import pytest
import yaml

from suite.core.topologies import parallel
from suite.sim import invariants as inv
from suite.sim import jointfit
from suite.sim.world import GOLD, SimWorld, load_profiles, population, run_graph

GRAPHS, QUESTIONS = 60, 600  # a few hundred graphs per task; 600 questions as the benchmark


@pytest.fixture(scope="module")
def checks():
    return {
        task: inv.check_task("llama3", task, graphs_per_budget=GRAPHS, n_questions=QUESTIONS)
        for task in ("mmlu", "math", "gsm8k")
    }


def _count(checks, task, name):
    return sum(v.check == name for v in checks[task][0])


def test_sampled_graphs_are_feasible_and_varied():
    profile = load_profiles("llama3")["mmlu"]
    sp = inv.pool_space("llama3", "mmlu", profile, 24)
    graphs = list(inv.sample_graphs(sp, 30, seed=1))
    assert len(graphs) == 30 and all(sp.is_feasible(g) for g in graphs)
    assert len({len(g.node_ids) for g in graphs}) > 3


def test_chance_floor_only_on_multiple_choice():
    assert inv.chance("mmlu") == pytest.approx(0.25)
    assert inv.chance("math") is None and inv.chance("humaneval") is None


def test_below_chance_check_finds_a_planted_violation():
    """A window of a few hundred tokens and garbled (not guessed) answers: under chance."""
    profile = load_profiles("llama3")["mmlu"]
    tiny = {m: replace(p, context_tokens=300) for m, p in profile.models.items()}
    garbling = replace(profile, models=tiny, garble_rate=50.0, multiple_choice=False)
    w = SimWorld("mmlu", replace(garbling, overload_cap=None), 0)
    g = parallel(["llama-3.2-3b"] * 12, "llama-3.2-3b")
    acc = float(np.mean(run_graph(w, g, population(400)) == GOLD))
    assert acc < 0.2
    # Past the real window the floor does not apply; inside it, it does.
    assert inv.below_chance(w, [g], [acc], window=1000) == []
    assert len(inv.below_chance(w, [g], [acc], window=131072)) == 1


def test_real_window_comes_from_the_evidence():
    profile = load_profiles("llama3")["mmlu"]
    assert inv.real_window("llama3", profile) == 131072


@pytest.mark.slow  # the module's checks fixture samples 300 graphs per budget
def test_no_multiple_choice_graph_below_chance(checks):
    assert _count(checks, "mmlu", "below_chance") == 0


@pytest.mark.slow  # the module's checks fixture samples 300 graphs per budget
def test_best_known_graph_never_worse_with_budget_mmlu(checks):
    assert _count(checks, "mmlu", "best_per_budget") == 0, checks["mmlu"]


@pytest.mark.slow  # the module's checks fixture samples 300 graphs per budget
@pytest.mark.parametrize("task", ["math", "gsm8k"])
def test_best_known_graph_never_worse_with_budget(checks, task):
    assert _count(checks, task, "best_per_budget") == 0


@pytest.mark.slow  # the module's checks fixture samples 300 graphs per budget
@pytest.mark.parametrize("task", ["mmlu", "math", "gsm8k"])
def test_fanin_follows_the_voting_curve_shape(checks, task):
    assert _count(checks, task, "fanin_decline") == 0


@pytest.mark.slow  # the module's checks fixture samples 300 graphs per budget
@pytest.mark.parametrize("task", ["mmlu", "math", "gsm8k"])
def test_fanin_of_the_aggregator_rises_over_one_node(checks, task):
    assert _count(checks, task, "fanin_rises") == 0


def test_fanin_checker_flags_a_collapse():
    profile = load_profiles("llama3")["math"]
    models = {m: replace(p, context_tokens=1500) for m, p in profile.models.items()}
    w = SimWorld("math", replace(profile, models=models, garble_rate=50.0), 0)
    found = inv.fanin_violations(w, "llama-3.2-3b", 300)
    assert {v.check for v in found} == {"fanin_decline"}


def test_the_fitted_profile_uses_the_real_windows_and_the_evidence():
    """context_tokens and long_context_loss are read off the evidence; the caps are fitted."""
    profile = load_profiles("llama3")["mmlu"]
    assert {m.context_tokens for m in profile.models.values()} == {131072}
    assert profile.models["llama-3.2-1b"].long_context_loss == pytest.approx(0.25)
    assert profile.overload_cap is not None and profile.drift_cap is not None
    reading = [profile.models[m].reading_tokens or 0 for m in jointfit.pool_sizes("llama3")[0]]
    assert reading == sorted(reading) and reading[0] > 0  # larger models read more


def test_a_profile_without_the_optional_fields_keeps_the_original_rules():
    """No caps, no reading length: a wide fan-in past the window garbles as the old rule did."""
    profile = load_profiles("llama3")["mmlu"]
    models = {
        m: replace(p, context_tokens=600, reading_tokens=None) for m, p in profile.models.items()
    }
    old = replace(profile, models=models, overload_cap=None, drift_cap=None, multiple_choice=False)
    w = SimWorld("mmlu", replace(old, garble_rate=1.5), 0)
    wide = parallel(["llama-3.2-3b"] * 12, "llama-3.2-3b")
    assert float(np.mean(run_graph(w, wide, population(800)) == GOLD)) < 0.2


def test_a_lost_reader_on_multiple_choice_guesses_at_chance():
    """Every reader lost (window of 1 token): MMLU aggregates sit at chance, not below it."""
    profile = load_profiles("llama3")["mmlu"]
    models = {m: replace(p, context_tokens=1) for m, p in profile.models.items()}
    lost = replace(profile, models=models, garble_rate=50.0, overload_cap=None)
    w = SimWorld("mmlu", lost, 0)
    acc = float(
        np.mean(
            run_graph(w, parallel(["llama-3.2-1b"] * 6, "llama-3.2-3b"), population(4000)) == GOLD
        )
    )
    assert acc == pytest.approx(0.25, abs=0.02)


def test_answers_do_not_depend_on_the_width_of_the_batch():
    """A call's answer is the same whether its batch holds wider calls (padding) or not."""
    from suite.sim.world import PAD, Calls

    w = SimWorld("mmlu", load_profiles("llama3")["mmlu"], 0)
    keys = population(200)
    n = len(keys)
    inputs = np.zeros((n, 2), dtype=np.int64)
    narrow = Calls(keys, np.full(n, 3), inputs, np.zeros(n, np.int64), np.full(n, 2))
    padded = np.concatenate([inputs, np.full((n, 3), PAD)], axis=1)
    wide = Calls(keys, np.full(n, 3), padded, np.zeros(n, np.int64), np.full(n, 2))
    assert np.array_equal(w.answer("llama-3.2-3b", narrow), w.answer("llama-3.2-3b", wide))


def test_overload_costs_points_on_a_wide_fan_in_and_nothing_on_one_input():
    profile = load_profiles("llama3")["mmlu"]
    models = {
        m: replace(p, context_tokens=131072, reading_tokens=600) for m, p in profile.models.items()
    }
    base = replace(profile, models=models, overload_cap=0.0, garble_rate=8.0)
    loaded = replace(base, overload_cap=0.5)
    mid = "llama-3.2-3b"
    keys = population(1500)

    def acc(p, k):
        return float(
            np.mean(run_graph(SimWorld("mmlu", p, 0), parallel([mid] * k, mid), keys) == GOLD)
        )

    assert acc(loaded, 1) == acc(base, 1)
    assert 0.0 < acc(base, 24) - acc(loaded, 24) < 0.15
    assert acc(loaded, 24) > 0.25


def test_a_fully_overloaded_reader_keeps_its_inputs_accuracy():
    """Copying one input: an aggregate of 1B answers stays at the 1B's level, above chance."""
    profile = load_profiles("llama3")["mmlu"]
    models = {
        m: replace(p, context_tokens=131072, reading_tokens=600) for m, p in profile.models.items()
    }
    world = SimWorld("mmlu", replace(profile, models=models, overload_cap=1.0, garble_rate=50.0), 0)
    keys = population(2000)
    small = float(
        np.mean(run_graph(world, parallel(["llama-3.2-1b"], "llama-3.2-1b"), keys) == GOLD)
    )
    wide = parallel(["llama-3.2-1b"] * 40, "llama-3.2-3b")
    assert float(np.mean(run_graph(world, wide, keys) == GOLD)) > min(small, 0.31) - 0.03 > 0.25


def test_fit_recovers_a_known_overload_from_synthetic_curves():
    """Curves drawn from a known profile on other questions; the fit must find its cap."""
    profile = load_profiles("llama3")["math"]
    models = {
        m: replace(p, context_tokens=131072, reading_tokens=600) for m, p in profile.models.items()
    }
    voting = replace(profile, vote_weight=2.0, self_weight=1.0, verify_weight=1.0)
    known = replace(voting, models=models, overload_cap=0.5, garble_rate=8.0)
    truth = SimWorld("math", known, 0)
    keys = population(1500, tag="synthetic-observations")
    mid = "llama-3.2-3b"
    observed = {
        mid: [
            float(np.mean(run_graph(truth, parallel([mid] * k, mid), keys) == GOLD))
            for k in inv.FANIN_WIDTHS
        ]
    }
    start = replace(known, overload_cap=0.0)
    cap, rmse = jointfit.fit_overload_to_curves(
        "math", start, observed, grid=(0.1, 0.5, 1.0), n=1500
    )
    assert cap == 0.5 and rmse < 0.03


def test_long_context_rows_read_the_evidence():
    rows = jointfit.long_context_rows("llama3")
    by_model = {r.what.split()[0]: r for r in rows}
    assert by_model["llama-3.2-1b"].lo == pytest.approx(0.25)
    assert by_model["llama-3.1-70b"].lo == pytest.approx(0.025)


def test_evidence_rows_name_their_sources():
    data = yaml.safe_load((jointfit.EVIDENCE_DIR / "llama3.yaml").read_text())
    for ev in data["evidence"]:
        assert {"title", "year", "where", "url"} <= set(ev["source"]), ev["id"]
        assert ev["use"] in {"target", "parameter", "shape", "context"}
        assert "numbers" in ev or "constraint" in ev or "numbers_note" in ev


def test_residual_row_band_and_loss():
    row = jointfit.Row("x", "t", "w", 0.05, 0.10, 0.03, 0.01)
    assert row.residual == pytest.approx(0.02) and not row.within and row.loss == pytest.approx(4.0)
    inside = jointfit.Row("x", "t", "w", 0.05, 0.10, 0.07, 0.01)
    assert inside.residual == 0.0 and inside.within and inside.loss == 0.0
