"""Issue 14: statistics at the independent level, one metric per table, safe publishing.

Fixture run folders come from helpers.runs.make_run; each test names the item it covers.
"""

import csv
import importlib.util
import io
import json
import os
import re
import stat

import numpy as np
import pytest
from helpers import ROOT, run_cli
from helpers.runs import BETTER, GRAPH, board_of, make_run, row

from suite.app.leaderboard import build_all
from suite.core import stats
from suite.core.topologies import parallel
from suite.leaderboard import anytime, build, figure, manifest, text
from suite.leaderboard.reference import QUESTIONS, Oracle, reference_version

BEYOND = parallel(["llama-3.1-8b", "llama-3.1-8b"], "llama-3.1-8b").to_dict()  # > the reference


def _build(results, out, **kw):
    return build_all(results, out, plots=False, cache=out.parent / "cache.json", **kw)


# 1. McNemar pooled over seeds x questions is gone; the notes name the seed-level test.
def test_no_pooled_mcnemar_and_every_table_names_its_test(tmp_path):
    for seed in range(2):
        make_run(tmp_path / "r", "random", seed, scores=(1,) * 8 + (0, 0))
        make_run(tmp_path / "r", "reinforce", seed, scores=(0,) * 8 + (1, 0), graph=BETTER)
    out = tmp_path / "lb"
    board, _ = _build(tmp_path / "r", out)
    readme, tex = (out / "README.md").read_text(), (out / "leaderboard.tex").read_text()
    for page in (readme, tex, (out / "leaderboard.html").read_text()):
        assert "McNemar" not in page
        assert "paired t-test of per-seed expected accuracy" in page
        assert "seeds are independent" in page
    assert "independent blocks of a Friedman test" in readme and "Nemenyi" in readme
    header = (out / "leaderboard.csv").read_text().splitlines()[0]
    assert "mcnemar" not in header and "p_paired_seeds" in header
    doc = json.loads((out / "leaderboard.json").read_text())
    assert all("p_mcnemar" not in r for g in doc["groups"] for r in g["rows"])
    assert row(board, "random").paired_n == 2 and not hasattr(stats, "mcnemar_p")


# 2. Below MIN_SEEDS_FOR_CI seeds: no CI in tables, no band in the anytime plots.
def test_below_five_seeds_no_ci_is_shown(tmp_path):
    assert stats.MIN_SEEDS_FOR_CI == 5
    for seed in range(4):
        make_run(tmp_path / "r", "random", seed, scores=(1,) * (seed + 3) + (0,) * (7 - seed))
    out = tmp_path / "lb"
    board, _ = _build(tmp_path / "r", out)
    r = row(board, "random")
    assert r.ci is None and r.se is not None and "n<5" in r.note
    assert "| n<5 " in (out / "README.md").read_text()
    make_run(tmp_path / "r", "random", 4, scores=(1,) * 5 + (0,) * 5)
    assert row(board_of(tmp_path / "r"), "random").ci is not None


def test_anytime_bands_need_five_seeds():
    plt = figure.pyplot()
    curves = [{"reward": np.array([0.1, 0.5]), "flops": np.array([1.0, 2.0])}] * 2
    fig, ax = plt.subplots()
    anytime._band(ax, curves, "reward", "evals", "C0", "random")
    assert len(ax.lines) == 1 and not ax.collections  # mean line only
    anytime._band(ax, curves * 3, "reward", "evals", "C1", "random")
    assert len(ax.collections) == 1
    plt.close(fig)


# 3. Regret counts against sim_reference.json only, never the folder's best graph.
def test_regret_uses_the_fixed_reference_even_when_a_run_beats_it(tmp_path):
    for seed in range(2):
        make_run(tmp_path, "random", seed, graph=GRAPH)
        make_run(tmp_path, "reinforce", seed, graph=BEYOND)
    board = board_of(tmp_path)
    reference = Oracle().best_known("llama3", "mmlu", 12, 0)
    group = board.groups[0]
    assert group.best_known == reference  # not the folder's best (BEYOND's accuracy)
    beyond = row(board, "reinforce")
    assert beyond.expected > reference and beyond.regret == pytest.approx(
        reference - beyond.expected
    )
    assert "negative regret" in group.best_known_source
    assert group.reference_version == reference_version()


def test_a_cell_without_a_reference_has_no_regret(tmp_path):
    for seed in range(2):
        make_run(tmp_path / "r", "random", seed, units=7)  # no 7-unit entry in the reference
    out = tmp_path / "lb"
    board, _ = _build(tmp_path / "r", out)
    group = board.groups[0]
    assert group.best_known is None and row(board, "random", units=7).regret is None
    assert row(board, "random", units=7).expected is not None  # the metric is still there
    assert "no up-to-date entry" in (out / "README.md").read_text()


def test_the_reference_version_is_in_every_output(tmp_path):
    for seed in range(2):
        make_run(tmp_path / "r", "random", seed)
    out = tmp_path / "lb"
    _build(tmp_path / "r", out)
    version = reference_version()
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", version)
    for name in ("README.md", "leaderboard.html", "leaderboard.tex", "leaderboard.csv"):
        assert version in (out / name).read_text()
    doc = json.loads((out / "leaderboard.json").read_text())
    assert doc["groups"][0]["reference_version"] == version


# 4 and 6. One metric per table, named in its header; sim ranks on expected accuracy.
def test_sim_tables_show_expected_beside_test_accuracy_and_name_the_metric(tmp_path):
    for seed in range(2):
        make_run(tmp_path / "r", "random", seed, scores=(1,) * 10)
        make_run(tmp_path / "r", "reinforce", seed, scores=(0,) * 10, graph=BETTER)
        make_run(tmp_path / "r", "random", seed, backend="vllm", task="humaneval")
    out = tmp_path / "lb"
    board, _ = _build(tmp_path / "r", out)
    sim = next(g for g in board.groups if g.key.backend == "sim")
    real = next(g for g in board.groups if g.key.backend == "vllm")
    assert text.headers(sim)[3] == "expected acc % (sim)" and "test acc %" in text.headers(sim)
    assert text.headers(real)[3] == "test acc %" and "expected acc % (sim)" not in text.headers(
        real
    )
    assert sim.rows[0].name == "reinforce"  # worse test accuracy, better graph: ranked first
    readme = (out / "README.md").read_text()
    assert re.search(r"\| expected acc % \(sim\) +\|", readme)
    assert f"over {QUESTIONS:,} simulated" in readme
    assert "Metric: test accuracy of the found graph" in readme
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert {r["metric"] for r in rows} == {build.SIM_METRIC, build.TEST_METRIC}


def test_search_efficiency_reports_the_leaderboard_metric_and_reference():
    spec = importlib.util.spec_from_file_location(
        "search_efficiency", ROOT / "benchmarks" / "search_efficiency.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.HEADERS[2].startswith(build.SIM_METRIC)
    rows = bench.table(["mmlu"], ["random"], 1)
    reference = Oracle().best_known("llama3", "mmlu", 12, 0)
    assert rows[-1][2] == f"{100 * reference:.1f}"
    assert float(rows[0][3]) == pytest.approx(
        100 * reference - float(rows[0][2].split()[0]), abs=0.11
    )


# 5. The anytime curve ends at the recommended graph.
def test_anytime_curve_ends_at_the_recommended_graph(tmp_path):
    for seed in range(2):  # every trial evaluated GRAPH; the searcher recommended BETTER
        make_run(tmp_path, "random", seed, graph=BETTER, trial_graph=GRAPH)
    board = board_of(tmp_path)
    curves = anytime.all_curves(board, workers=1)["mmlu-sim-llama3-u12"]["random"]
    oracle = Oracle()
    for c in curves:
        assert c["incumbent"][0] == pytest.approx(oracle.accuracy("llama3", "mmlu", 0, GRAPH))
        assert c["incumbent"][-1] == pytest.approx(oracle.accuracy("llama3", "mmlu", 0, BETTER))
    assert curves[0]["incumbent"][-1] == pytest.approx(row(board, "random").mean)


# 7. No --out: never the published folder; --publish to write there; stale files pruned.
@pytest.mark.slow
def test_default_output_is_beside_the_results_not_the_published_folder(tmp_path):
    for seed in range(2):
        make_run(tmp_path / "results", "random", seed)
    res = cli("results", "--no-plots", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "results" / "leaderboard" / "README.md").exists()
    assert not (tmp_path / "leaderboard").exists()
    res = cli("results", "--no-plots", "--out", "leaderboard", cwd=tmp_path)
    assert res.returncode == 2 and "--publish" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "leaderboard").exists()
    res = cli("results", "--no-plots", "--publish", cwd=tmp_path)
    assert res.returncode == 0 and (tmp_path / "leaderboard" / "README.md").exists()


def test_a_build_removes_only_the_stale_files_it_wrote(tmp_path):
    for seed in range(2):
        make_run(tmp_path / "r", "random", seed)
    out = tmp_path / "lb"
    (out / "plots").mkdir(parents=True)
    (out / "baselines").mkdir()
    for name in ("plots/anytime_gone.png", "plots/mine.png", "baselines/ci.json", "ABOUT.md"):
        (out / name).write_text("x")
    manifest.write(out, ["plots/anytime_gone.png", "README.md", "../outside.txt"])
    (tmp_path / "outside.txt").write_text("x")
    _build(tmp_path / "r", out)
    assert not (out / "plots" / "anytime_gone.png").exists()
    for kept in ("plots/mine.png", "baselines/ci.json", "ABOUT.md", "../outside.txt"):
        assert (out / kept).exists(), kept
    listed = json.loads((out / "manifest.json").read_text())["files"]
    assert "README.md" in listed and "leaderboard.csv" in listed and "ABOUT.md" not in listed


def test_help_describes_every_argument_its_default_and_singles():
    res = cli("--help")
    assert res.returncode == 0
    for option in ("results", "--out", "--publish", "--no-plots", "--strict", "--about", "--cache"):
        assert option in res.stdout
    assert res.stdout.count("default") >= 7 and "RESULTS/leaderboard" in res.stdout
    assert "singles RESULTS --task" in res.stdout
    res = cli("singles", "--help")
    assert res.returncode == 0 and "default: llama3" in res.stdout


# 8. Generated files get the mode a plain open() gives (0666 less the umask), not 0600.
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_leaderboard_files_respect_the_umask(tmp_path, umask):
    for seed in range(2):
        make_run(tmp_path / "r", "random", seed)
    old = os.umask(umask)
    try:
        _, files = _build(tmp_path / "r", tmp_path / "lb")
    finally:
        os.umask(old)
    for path in [*files, tmp_path / "lb" / "manifest.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


# 19. CSV without float noise; one number format per column; "<0.001" readable; "1 node".
def test_csv_values_carry_no_float_noise(tmp_path):
    make_run(tmp_path / "r", "random", 0, scores=(1,) + (0,) * 9, backend="vllm")
    make_run(tmp_path / "r", "random", 1, scores=(1, 1) + (0,) * 8, backend="vllm")
    out = tmp_path / "lb"
    _build(tmp_path / "r", out)
    csv_text = (out / "leaderboard.csv").read_text()
    assert "0.15000000000000002" not in csv_text
    assert next(csv.DictReader(io.StringIO(csv_text)))["mean"] == "0.15"
    assert not re.search(r"\d\.\d{12,}", csv_text)


def test_each_markdown_column_has_one_number_format(tmp_path):
    for seed in range(2):
        make_run(tmp_path, "random", seed)
        make_run(tmp_path, "reinforce", seed)
    board = board_of(tmp_path)
    group = board.groups[0]
    group.rows[0].cost["search_tokens"] = 82320.0
    group.rows[1].cost["search_tokens"] = 147000.0
    col = text.headers(group).index("search tokens")
    shown = [text.cells(r, group)[col] for r in group.rows]
    assert shown == ["8.23e+04", "1.47e+05"]


def test_p_below_a_thousandth_reads_plainly_in_markdown(tmp_path):
    for seed in range(2):
        make_run(tmp_path / "r", "random", seed, scores=(1,) * 8 + (0, 0), backend="vllm")
        make_run(tmp_path / "r", "reinforce", seed, scores=(0,) * 10, backend="vllm")
    out = tmp_path / "lb"
    _build(tmp_path / "r", out)
    readme = (out / "README.md").read_text()
    assert "| <0.001 " in readme and "&lt;0.001" not in readme
    assert "&lt;0.001" in (out / "leaderboard.html").read_text()  # HTML still escapes it


def test_counts_are_singular_for_one():
    assert text.plural(1, "node") == "1 node" and text.plural(2, "node") == "2 nodes"


# 9. Titles and legends fit the figure at 1, 2 and 16 panels.
@pytest.mark.parametrize("n", [1, 2, 16])
def test_titles_and_legends_stay_inside_the_figure(n):
    plt = figure.pyplot()
    fig, axes = figure.panels(n, 5.6, 4.2)
    for i, ax in enumerate(axes):
        ax.plot([1, 2], [1, 2], label=f"una_tpe_searcher_with_a_long_name_{i % 9}")
    figure.legend_below(fig, axes)
    figure.title(fig, "Accuracy vs inference budget: mean over seeds of each table's metric " * 3)
    fig.canvas.draw()
    box = fig.bbox
    for artist in (fig.legends[0], fig._suptitle):
        extent = artist.get_window_extent()
        assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, artist
        assert extent.y0 >= box.y0 - 1 and extent.y1 <= box.y1 + 1, artist
    plt.close(fig)


def cli(*args, cwd=ROOT):
    """``python -m suite.leaderboard *args`` run from ``cwd`` (the repository root by default)."""
    return run_cli("suite.leaderboard", *args, cwd=cwd)


def test_the_two_budget_views_are_separate_tables_and_the_pilot_is_a_prior_cost(tmp_path):
    """Issue 12: equal search budget (pilot as prior cost) vs equal total budget."""
    for seed in range(2):
        make_run(tmp_path, "agent_reinforce", seed, label="agent_reinforce[heuristic]",
                 pilot_question_evals=1000)  # fmt: skip
        make_run(tmp_path, "random", seed)
        make_run(tmp_path, "random", seed, extra_question_evals=1000, scores=(1,) * 10)
    board = board_of(tmp_path)
    views = {g.key.extra_question_evals: g for g in board.groups}
    assert set(views) == {0, 1000}
    assert {r.name for r in views[0].rows if r.kind == "searcher"} == {
        "agent_reinforce[heuristic]",
        "random",
    }
    assert [r.name for r in views[1000].rows if r.kind == "searcher"] == ["random"]
    assert views[1000].key.slug.endswith("-total1000")
    assert text.title(views[0]).endswith("equal search budget")
    assert text.title(views[1000]).endswith("equal total budget (+1000 question evals)")
    note = text.statement(views[0], board)
    assert "1,000 question evaluations: a prior cost" in note
