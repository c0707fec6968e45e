"""Leaderboard tables: grouping, statistics, excluded runs, bad input and escaping.

Most tests write fixture run folders shaped like suite.app.run's (final.json, config.yaml,
trials.jsonl); test_leaderboard_plots.py builds from a real tiny sweep.
"""

import csv
import io
import json

import pytest
from helpers import run_cli
from helpers.runs import BETTER, GRAPH, board_of, make_run, row

from suite.app.leaderboard import build_all
from suite.core.errors import DataError
from suite.leaderboard import build, load
from suite.leaderboard.reference import Oracle, reference_version


def test_rows_aggregate_over_seeds_with_ci_se_rank_and_paired_tests(tmp_path):
    for seed in range(3):
        make_run(tmp_path, "random", seed, scores=(1,) * 8 + (0, 0), backend="vllm")
        make_run(tmp_path, "reinforce", seed, scores=(0,) * 8 + (1, 0), backend="vllm")
    board = board_of(tmp_path)
    best, other = row(board, "random"), row(board, "reinforce")
    assert board.groups[0].metric == build.TEST_METRIC  # a real backend: test accuracy
    assert best.rank == 1 and other.rank == 2
    assert best.seeds == [0, 1, 2] and best.mean == pytest.approx(0.8)
    assert best.ci is None and best.se == 0.0  # 3 seeds: no CI; constant over seeds
    assert other.paired_n == 3 and other.p_seeds == 0.0  # every seed moved by the same amount
    assert best.p_seeds is None  # the best is not compared with itself
    assert best.regret is None and board.groups[0].best_known is None  # only sim knows it
    assert best.cost["graph_evals"] == 3 and best.cost["search_tokens"] == 150


def test_sim_ranks_on_expected_accuracy_and_regret_uses_the_fixed_reference(tmp_path):
    for seed in range(3):  # the better test accuracy comes with the worse graph
        make_run(tmp_path, "random", seed, scores=(1,) * 8 + (0, 0), graph=GRAPH)
        make_run(tmp_path, "reinforce", seed, scores=(0,) * 8 + (1, 0), graph=BETTER)
    board = board_of(tmp_path)
    group, oracle = board.groups[0], Oracle()
    best, other = row(board, "reinforce"), row(board, "random")
    assert group.metric == build.SIM_METRIC and best.rank == 1 and other.rank == 2
    assert best.mean == pytest.approx(oracle.accuracy("llama3", "mmlu", 0, BETTER))
    assert best.test_mean == pytest.approx(0.1) and other.test_mean == pytest.approx(0.8)
    assert group.best_known == oracle.best_known("llama3", "mmlu", 12, 0)
    assert group.reference_version == reference_version()
    assert other.regret == pytest.approx(group.best_known - other.expected)


def test_groups_split_by_budget_and_task(tmp_path):
    make_run(tmp_path, "random", 0, units=6)
    make_run(tmp_path, "random", 1, units=6)
    make_run(tmp_path, "random", 0, units=12)
    make_run(tmp_path, "random", 1, units=12)
    make_run(tmp_path, "random", 0, task="humaneval")
    make_run(tmp_path, "random", 1, task="humaneval")
    board = board_of(tmp_path)
    keys = [(g.key.task, g.key.budget_units) for g in board.groups]
    assert keys == [("humaneval", 12), ("mmlu", 6), ("mmlu", 12)]
    assert all(len(g.rows[0].seeds) == 2 for g in board.groups)


def test_agent_rows_keep_the_agent_in_their_name(tmp_path):
    for seed in range(2):
        make_run(tmp_path, "agent_reinforce", seed, label="agent_reinforce[heuristic]")
    board = board_of(tmp_path)
    names = [r.name for r in board.searcher_rows]
    assert names == ["agent_reinforce[heuristic]"]
    assert board.searcher_rows[0].agent == "heuristic"


def test_failed_interrupted_running_and_unreadable_runs_are_listed_not_averaged(tmp_path):
    make_run(tmp_path, "random", 0, scores=(1,) * 10)
    make_run(tmp_path, "random", 1, scores=(1,) * 10)
    make_run(tmp_path, "random", 2, status="failed")
    make_run(tmp_path, "random", 3, status="interrupted")
    make_run(tmp_path, "random", 4, status="running")
    bad = make_run(tmp_path, "random", 5)
    (bad / "final.json").write_text('{"status": "compl')
    board = board_of(tmp_path)
    assert row(board, "random").seeds == [0, 1] and row(board, "random").test_mean == 1.0
    statuses = sorted(e.status for e in board.collection.excluded)
    assert statuses == ["failed", "interrupted", "running", "unreadable"]
    out = tmp_path / "lb"
    build_all(tmp_path, out, plots=False)
    text = (out / "README.md").read_text()
    assert "4 run folders are not averaged in" in text and "failed on purpose" in text
    listed = json.loads((out / "leaderboard.json").read_text())["excluded"]
    assert len(listed) == 4


def test_a_rerun_of_the_same_seed_supersedes_the_older_run(tmp_path):
    make_run(tmp_path, "random", 0, scores=(0,) * 10, stamp="20261126-100000-000000")
    make_run(tmp_path, "random", 0, scores=(1,) * 10, stamp="20261126-110000-000000")
    make_run(tmp_path, "random", 1, scores=(1,) * 10)
    board = board_of(tmp_path)
    assert row(board, "random").test_mean == 1.0 and row(board, "random").seeds == [0, 1]
    assert [e.status for e in board.collection.excluded] == ["superseded"]


def test_runs_with_other_settings_get_their_own_named_row(tmp_path):
    for seed in range(3):
        make_run(tmp_path, "random", seed)
    for seed in range(2):
        make_run(tmp_path, "random", seed, n_iterations=3, stamp="20261126-130000-000000")
    names = sorted(r.name for r in board_of(tmp_path).searcher_rows)
    assert names == ["random", "random (n_iterations=3)"]


def test_single_model_rows_sit_beside_the_searchers_in_every_budget(tmp_path):
    for units in (6, 12):
        make_run(tmp_path, "random", 0, units=units)
        make_run(tmp_path, "random", 1, units=units)
    single = tmp_path / "mmlu" / "single"
    single.mkdir()
    record = {
        "task": "mmlu",
        "backend": "sim",
        "simulated": True,
        "graph": {"final_model": "llama-3.1-8b", "nodes": [], "edges": []},
        "test_accuracy": 0.64,
        "test_ci95": [0.54, 0.73],
        "test_n": 100,
        "cost_flops": 4.0e12,
        "latency_s": 3.1,
    }
    (single / "sim-llama-3.1-8b.json").write_text(json.dumps(record))
    board = board_of(tmp_path)
    for g in board.groups:
        ref = [r for r in g.rows if r.kind == "single"]
        assert [r.name for r in ref] == ["single: llama-3.1-8b"]
        assert ref[0].ci == (0.54, 0.73) and ref[0].rank is None
    assert board.collection.singles[0].pool == "llama3"


def test_every_output_states_backend_agent_version_and_date(tmp_path):
    for seed in range(2):
        make_run(tmp_path, "agent_reinforce", seed, label="agent_reinforce[heuristic]")
        make_run(tmp_path, "random", seed)
    out = tmp_path / "lb"
    board, files = build_all(tmp_path, out, plots=False)
    assert {p.name for p in files} == {
        "README.md",
        "leaderboard.html",
        "leaderboard.tex",
        "leaderboard.csv",
        "leaderboard.json",
    }
    for name in ("README.md", "leaderboard.html", "leaderboard.tex"):
        text = (out / name).read_text()
        assert "simulated" in text and "heuristic" in text
        assert "Suite version 0.1.0" in text and board.generated in text
    doc = json.loads((out / "leaderboard.json").read_text())
    assert doc["schema"] == "tts-graph-bench/leaderboard" and doc["schema_version"] == 2
    group = doc["groups"][0]
    assert group["backend"] == "sim" and group["agents"] == ["heuristic"]
    assert group["suite_versions"] == ["0.1.0"] and doc["generated"] == board.generated
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert len(rows) == 2 and rows[0]["backend"] == "sim" and rows[0]["generated"]


def test_planted_markup_is_escaped_everywhere(tmp_path):
    evil = '<script>alert("x")</script>'
    for seed in range(2):
        make_run(tmp_path, "random", seed, label=f"random{evil}")
        make_run(tmp_path, "reinforce", seed, label=f"{evil}&<img src=x onerror=alert(1)>")
    failed = make_run(tmp_path, "random", 7, status="failed")
    record = json.loads((failed / "final.json").read_text())
    record["reason"] = f"boom {evil}"
    (failed / "final.json").write_text(json.dumps(record))
    out = tmp_path / "lb"
    build_all(tmp_path, out, plots=False)
    page = (out / "leaderboard.html").read_text()
    assert page.count("<script>") == 1  # the page's own sorting script, nothing planted
    assert page.rindex("<script>") > page.rindex("&lt;script&gt;")  # and it comes last
    assert "<img" not in page and 'alert("x")' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    readme = (out / "README.md").read_text()
    assert "<script>" not in readme and "<img" not in readme and "&lt;script&gt;" in readme
    tex = (out / "leaderboard.tex").read_text()  # tabulate's booktabs escapes the cells
    assert "<script>" not in tex and "\\ensuremath{<}script\\ensuremath{>}" in tex


@pytest.mark.slow
def test_one_seed_warns_and_strict_fails(tmp_path):
    make_run(tmp_path, "random", 0)
    make_run(tmp_path, "reinforce", 0)
    make_run(tmp_path, "reinforce", 1)
    board = board_of(tmp_path)
    single_seed = row(board, "random")
    assert single_seed.ci is None and single_seed.se is None and "1 seed" in single_seed.note
    assert len(board.warnings) == 1 and "random" in board.warnings[0]
    res = run_cli("suite.leaderboard", tmp_path, "--out", tmp_path / "lb", "--no-plots")
    assert res.returncode == 0 and "warning:" in res.stderr and "1 seed" in res.stderr
    res = run_cli("suite.leaderboard", tmp_path, "--out", tmp_path / "lb", "--no-plots", "--strict")
    assert res.returncode == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "no run folders"),
        ("mixed", "mix schema versions 1 (1 runs"),
        ("future", "schema version 2, but this suite reads version 1"),
        ("all_failed", "no completed run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, setup, message):
    results = tmp_path / "results"
    if setup != "missing":
        results.mkdir()
    if setup == "mixed":
        make_run(results, "random", 0)
        make_run(results, "random", 1, schema_version=2)
    if setup == "future":
        make_run(results, "random", 0, schema_version=2)
    if setup == "all_failed":
        make_run(results, "random", 0, status="failed")
    res = run_cli("suite.leaderboard", results, "--out", tmp_path / "lb")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in res.stderr


def test_load_raises_data_error_for_a_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load.load(tmp_path / "nope")


@pytest.mark.slow
def test_about_file_in_the_output_folder_goes_under_the_readme_header(tmp_path):
    make_run(tmp_path / "r", "random", 0)
    make_run(tmp_path / "r", "random", 1)
    out = tmp_path / "lb"
    out.mkdir()
    (out / "ABOUT.md").write_text("Swept at commit abc in 14 minutes.\n")
    res = run_cli("suite.leaderboard", tmp_path / "r", "--out", out, "--no-plots")
    assert res.returncode == 0, res.stderr
    readme = (out / "README.md").read_text()
    assert readme.index("Swept at commit abc") < readme.index("## mmlu")


def test_accuracy_vs_budget_draws_the_best_known_graph_per_budget(tmp_path, monkeypatch):
    """On sim the plot shows the fixed reference per budget, so the headroom is visible."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from suite.leaderboard import plots

    for seed in range(2):
        make_run(tmp_path, "random", seed, scores=(1,) * 8 + (0, 0), graph=GRAPH)
    board = board_of(tmp_path)
    drawn: list[object] = []
    real_plot = plt.Axes.plot

    def spy(ax, *args, **kwargs):
        drawn.append(kwargs.get("label"))
        return real_plot(ax, *args, **kwargs)

    monkeypatch.setattr(plt.Axes, "plot", spy)
    plots.accuracy_vs_budget(board, tmp_path / "plots")
    assert "best known graph per budget (regret reference)" in drawn
