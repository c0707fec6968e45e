"""The leaderboard end to end on a real tiny sim sweep: tables, statistics and every plot."""

import json
import os

import pytest
import yaml
from helpers import run_cli

from suite.app import cli
from suite.app.cell import execute
from suite.app.leaderboard import build_all
from suite.core.graph import CollabGraph, Node, Role
from suite.leaderboard import drawgraph

SEARCHERS = ("random", "reinforce", "optuna_tpe")
BUDGETS = ("u6", "u12")
SMALL = ["n_iterations=2", "batch_size=2", "test_n=12", "agent=heuristic"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """3 searchers x 2 budgets x 2 seeds on mmlu/sim, run in-process like suite.app.regress."""
    root = tmp_path_factory.mktemp("results")
    adapters: dict = {}
    for searcher in SEARCHERS:
        for budget in BUDGETS:
            for seed in (0, 1):
                data = cli.compose(
                    [f"searcher={searcher}", f"budget={budget}", f"seed={seed}",
                     f"results_dir={root}", *SMALL]
                )  # fmt: skip
                stamp = f"20261126-000000-{budget}"
                run_dir = root / "mmlu" / searcher / f"{stamp}-s{seed}"
                execute(data, yaml.safe_dump(data), run_dir, quiet=True, adapters=adapters)
    single = root / "mmlu" / "single"
    single.mkdir()
    for model in ("llama-3.2-1b", "llama-3.1-8b"):
        record = {
            "task": "mmlu",
            "backend": "sim",
            "simulated": True,
            "graph": CollabGraph.single(model).to_dict(),
            "test_accuracy": 0.3 if "1b" in model else 0.6,
            "test_ci95": [0.1, 0.5] if "1b" in model else [0.4, 0.8],
            "test_n": 12,
            "cost_flops": 1e12 if "1b" in model else 8e12,
            "latency_s": 1.0 if "1b" in model else 3.0,
        }
        (single / f"sim-{model}.json").write_text(json.dumps(record))
    return root


@pytest.fixture(scope="module")
def built(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("leaderboard")
    board, files = build_all(sweep, out, cache=out / "cache.json")
    return board, files, out


@pytest.mark.slow
def test_tables_from_a_real_sweep_have_regret_and_paired_tests(built):
    board, _, _ = built
    assert [g.key.budget_units for g in board.groups] == [6, 12]
    for g in board.groups:
        searchers = [r for r in g.rows if r.kind == "searcher"]
        assert sorted(r.name for r in searchers) == sorted(SEARCHERS)
        assert all(len(r.seeds) == 2 and r.ci is None for r in searchers)  # n<5: no CI
        assert all(r.regret is not None and r.regret >= 0 for r in searchers)
        assert all(r.metric == "expected accuracy" and r.mean == r.expected for r in searchers)
        others = [r for r in searchers if r.rank != min(x.rank for x in searchers)]
        assert all(r.paired_n == 2 and r.p_seeds is not None for r in others)
        assert [r.name for r in g.rows if r.kind == "single"] == [
            "single: llama-3.2-1b",
            "single: llama-3.1-8b",
        ]
    assert board.collection.excluded == []


@pytest.mark.slow
def test_run_folder_files_respect_the_umask(sweep):
    umask = os.umask(0o022)
    os.umask(umask)
    for path in sweep.rglob("*"):
        if path.is_file() and path.name in ("final.json", "config.yaml", "trials.jsonl"):
            assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


@pytest.mark.slow
def test_every_plot_is_written_as_png_and_svg(built):
    _, files, out = built
    names = {p.relative_to(out).as_posix() for p in files}
    for stem in (
        "accuracy_vs_budget",
        "accuracy_vs_latency",
        "critical_difference_sim_llama3",
        "anytime_mmlu-sim-llama3-u6",
        "anytime_mmlu-sim-llama3-u12",
        "graphs_mmlu-sim-llama3-u6",
        "graphs_mmlu-sim-llama3-u12",
    ):
        png, svg = out / "plots" / f"{stem}.png", out / "plots" / f"{stem}.svg"
        assert f"plots/{stem}.png" in names and f"plots/{stem}.svg" in names
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert svg.read_text().lstrip().startswith("<?xml")
    readme = (out / "README.md").read_text()
    assert "(plots/accuracy_vs_budget.png)" in readme
    assert "plots/anytime_mmlu-sim-llama3-u6.png" in readme


@pytest.mark.slow
def test_rank_summary_uses_friedman_over_cells(built):
    _, _, out = built
    ranks = json.loads((out / "leaderboard.json").read_text())["ranks"][0]
    assert ranks["cells"] == ["mmlu u6", "mmlu u12"]
    assert sorted(ranks["searchers"]) == sorted(SEARCHERS)
    assert 0.0 <= ranks["friedman_p"] <= 1.0
    assert sum(ranks["mean_ranks"].values()) == pytest.approx(6.0)  # 1 + 2 + 3
    readme = (out / "README.md").read_text()
    assert "| cell (task, budget)" in readme and "| average rank" in readme


def test_graph_drawing_puts_final_last_and_nodes_by_depth():
    graph = CollabGraph.build(
        [Node("n0", "llama-3.2-1b"), Node("n1", "llama-3.2-3b", Role.FUSER)],
        [("n0", "n1"), ("n1", "final"), ("n0", "final")],
        "llama-3.2-3b",
    )
    pos = drawgraph.positions(graph)
    assert pos["n0"][0] < pos["n1"][0] < pos["final"][0]


@pytest.mark.slow
def test_cli_rebuilds_from_results_alone(sweep, tmp_path):
    res = run_cli("suite.leaderboard", sweep, "--out", tmp_path / "lb",
                  "--cache", tmp_path / "c.json", timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "from 12 runs" in res.stdout
    assert (tmp_path / "lb" / "plots" / "accuracy_vs_budget.png").exists()


@pytest.mark.slow
def test_singles_writes_one_reference_file_per_pool_model(tmp_path):
    res = run_cli("suite.leaderboard", "singles", tmp_path, "--task", "mmlu", "test_n=6",
                  timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    from suite.leaderboard import load

    files = sorted(p.name for p in (tmp_path / "mmlu" / "single").glob("*.json"))
    assert files == [
        "sim-llama3-llama-3.1-70b.json",
        "sim-llama3-llama-3.1-8b.json",
        "sim-llama3-llama-3.2-1b.json",
        "sim-llama3-llama-3.2-3b.json",
    ]
    singles = load.load(tmp_path).singles
    assert {s.pool for s in singles} == {"llama3"} and all(s.test_n == 6 for s in singles)
