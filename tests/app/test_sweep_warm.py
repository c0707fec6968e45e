"""Sweeps (issue 15 item 3, issue 14 items 11 and 16): the warm launcher, its cheap composition,
the ledger's progress lines and summary, and results_dir as the one place runs go."""

import json
import os

import pytest
import yaml
from helpers import run_cli

from suite.app import run, sweep, sweep_setup
from suite.config import CONF_DIR, schema

SMALL = ["task=mmlu", "n_iterations=1", "batch_size=2", "test_n=5"]
WARM = ["-m", "+experiment/launcher=warm", "hydra.launcher.n_jobs=1"]


@pytest.fixture(scope="module")
def loader():
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    schema.register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config_loader = GlobalHydra.instance().config_loader()
        master = config_loader.load_configuration(
            "config", ["+experiment=leaderboard_sim"], run_mode=RunMode.MULTIRUN
        )
    return config_loader, master  # Hydra's global state is cleared; the loader still composes


def as_data(cfg):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=False)


def test_composer_gives_hydras_own_config_and_composes_once_per_family(loader):
    from suite.app.warm import SweepComposer

    config_loader, master = loader
    composer = SweepComposer(config_loader, master)
    jobs = [
        [f"searcher={s}", f"task={t}", "budget=u6", f"seed={k}", f"batch_size={b}"]
        for s in ("random", "maao")
        for t in ("mmlu", "humaneval")
        for k in (0, 7)
        for b in (2, 3)
    ]
    jobs.append(["searcher=random", "task=mmlu", "seed=3", "searcher.recommend=last"])
    for job in jobs:
        assert as_data(composer(job)) == as_data(config_loader.load_sweep_config(master, job))
    assert composer.full_composes == 4 + 1  # two searchers x two tasks, and the added key


def test_composer_hands_out_fresh_configs(loader):
    from suite.app.warm import SweepComposer

    composer = SweepComposer(*loader)
    first = composer(["searcher=random", "seed=0"])
    first.seed = 99
    assert composer(["searcher=random", "seed=0"]).seed == 0


def write_ledger(path, cells, total):
    sweep.write_plan(str(path), [c[0] for c in cells], "WarmLauncher")
    for overrides, status, kw in cells:
        sweep.record(str(path), overrides, status, **kw)
    assert json.loads(path.read_text().splitlines()[0])["plan"]["total"] == total


def test_progress_prints_cell_lines_and_the_summary_counts_and_places_failures(tmp_path, capsys):
    ledger = tmp_path / "ledger.jsonl"
    progress = sweep.Progress(ledger).start()
    write_ledger(
        ledger,
        [
            (["searcher=random", "seed=0"], "completed", {"where": tmp_path / "a", "seconds": 0.5}),
            (["searcher=random", "seed=1"], "skipped", {"where": tmp_path / "b"}),
            (["searcher=maao", "seed=0"], "failed", {"where": tmp_path / "c", "error": "boom"}),
        ],
        total=3,
    )
    tally = progress.stop()
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "cell 1/3 done: searcher=random seed=0 (0.50 s)",
        f"cell 2/3 skipping completed cell: searcher=random seed=1 ({tmp_path / 'b'})",
        "cell 3/3 failed: searcher=maao seed=0: boom",
    ]
    lines = sweep.summary(tally, 2.0)
    assert "1 completed, 1 skipped (already done), 1 failed" in lines[0]
    assert lines[1:] == [f"  failed: searcher=maao seed=0: boom (see {tmp_path / 'c'}/final.json)"]


def test_a_cell_that_never_reports_is_named_in_the_summary(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    write_ledger(ledger, [(["seed=0"], "completed", {}), (["seed=1"], "completed", {})], 2)
    ledger.write_text(ledger.read_text().splitlines()[0] + "\n")  # only the plan arrived
    tally = sweep.Progress(ledger).stop()
    assert "2 of 2 cells never reported" in sweep.summary(tally, 1.0)[1]


@pytest.mark.parametrize("key", ["hydra.sweep.dir", "hydra.run.dir", "hydra.sweep.subdir"])
def test_hydra_run_folders_are_refused_in_favour_of_results_dir(key, tmp_path, capsys):
    code = run.main(["-m", "seed=0,1", f"{key}={tmp_path}/x", f"results_dir={tmp_path}/y"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: {key}=") and "pass results_dir=" in err[0]
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")))
def test_every_preset_places_runs_under_results_dir(preset):
    from hydra import compose, initialize_config_dir

    schema.register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", [f"+experiment={preset}"], return_hydra_config=True)
    assert cfg.hydra.sweep.dir == cfg.results_dir
    raw = yaml.safe_load((CONF_DIR / "config.yaml").read_text())["hydra"]
    assert raw["run"]["dir"].startswith("${results_dir}/")
    assert raw["sweep"]["subdir"] == raw["run"]["dir"].removeprefix("${results_dir}/")


WARM_DEFAULTS = ["hydra/sweeper=suite", "hydra/launcher=warm"]


@pytest.mark.parametrize(
    ("overrides", "added"),
    [
        (["seed=0,1"], WARM_DEFAULTS),
        (["+experiment=leaderboard_sim", "seed=0"], WARM_DEFAULTS),
        (["+experiment/launcher=joblib"], ["hydra/sweeper=suite"]),
        (["hydra/launcher=basic", "seed=0,1"], ["hydra/sweeper=suite"]),
        (["hydra/sweeper=basic", "hydra/launcher=basic"], []),
    ],
)
def test_a_sweep_that_picks_no_launcher_runs_on_the_warm_one(overrides, added):
    assert sweep_setup.sweep_defaults(overrides) == added


def ledger_of(path):
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return lines[0]["plan"], lines[1:]


@pytest.mark.slow
def test_warm_workers_run_cells_reuse_the_loaded_task_and_skip_completed_cells(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    args = [*WARM, "searcher=random,reinforce", "seed=0,1", *SMALL, f"results_dir={tmp_path}"]
    first = run_cli("suite.run", *args, env={sweep.LEDGER_ENV: str(ledger)})
    assert first.returncode == 0, first.stderr[-2000:]
    cells = [line for line in first.stdout.splitlines() if line.startswith("cell ")]
    assert [c.split(" done: ")[0] for c in cells] == [f"cell {k}/4" for k in (1, 2, 3, 4)]
    assert "4 completed, 0 skipped (already done), 0 failed" in first.stdout
    plan, done = ledger_of(ledger)
    assert plan["total"] == 4 and plan["swept"] == ["searcher", "seed"]
    assert len({c["pid"] for c in done}) == 1 and done[0]["pid"] != os.getpid()
    # one worker, four cells: the task was loaded once and reused by the next three
    assert [c["task_loads"] for c in done] == [1, 1, 1, 1]
    assert [c["cells_in_process"] for c in done] == [1, 2, 3, 4]
    assert len(list(tmp_path.glob("mmlu/*/*/final.json"))) == 4
    assert not list(tmp_path.glob(".sweep-*"))

    again = run_cli("suite.run", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("skipping completed cell") == 4
    assert "0 completed, 4 skipped (already done), 0 failed" in again.stdout
    assert len(list(tmp_path.glob("mmlu/*/*/final.json"))) == 4
    assert not list(tmp_path.glob(".sweep-*"))


@pytest.mark.slow
def test_a_failing_cell_is_summarised_and_the_other_cells_finish(tmp_path):
    failing = [
        "searcher=random",
        *SMALL,
        "budget.units=2,6",  # no model fits 2 units: that cell fails in its worker
        "pool.models.0.units.default=3",
        "pool.final_model=llama-3.2-3b",
    ]
    res = run_cli("suite.run", *WARM, *failing, f"results_dir={tmp_path}")
    assert res.returncode == 2 and "Traceback" not in res.stderr + res.stdout
    assert "1 completed, 0 skipped (already done), 1 failed" in res.stdout
    (failed,) = [line for line in res.stdout.splitlines() if line.startswith("  failed: ")]
    assert "budget.units=2" in failed and "too small" in failed
    (error,) = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: 1 cell(s) of the sweep failed:")
    assert [json.loads(p.read_text())["status"] for p in tmp_path.glob("mmlu/*/*/final.json")] == [
        "completed"
    ]


def run_folders(root):
    """{(searcher, seed): {file: content}} with the fields that differ between invocations out."""
    out = {}
    for final in root.glob("mmlu/*/*/final.json"):
        record = json.loads(final.read_text())
        files = {p.name: p.read_bytes() for p in final.parent.iterdir() if p.name != "final.json"}
        files["config.yaml"] = files["config.yaml"].replace(str(root).encode(), b"<root>")
        for key in ("command", "wall_s"):  # the launcher override; timing
            record.pop(key)
        out[final.parent.parent.name, record["seed"]] = {**files, "final.json": record}
    return out


@pytest.mark.slow
def test_run_folders_are_the_same_as_the_basic_launchers(tmp_path):
    cells = ["searcher=random,maao", "seed=0", *SMALL]
    basic = run_cli(
        "suite.run", "-m", "hydra/launcher=basic", *cells, f"results_dir={tmp_path / 'basic'}"
    )
    warm = run_cli("suite.run", *WARM, *cells, f"results_dir={tmp_path / 'warm'}")
    assert basic.returncode == 0 and warm.returncode == 0, warm.stderr[-2000:]
    a, b = run_folders(tmp_path / "basic"), run_folders(tmp_path / "warm")
    assert len(a) == 2 and a == b


def test_a_new_sweep_removes_ledgers_that_killed_sweeps_left(tmp_path):
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not sweep._alive(pid))
    (tmp_path / f".sweep-{dead}-0a0b.jsonl").write_text("{}\n")
    mine = tmp_path / f".sweep-{os.getpid()}-0c0d.jsonl"
    mine.write_text("{}\n")
    path = sweep.ledger_path(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]
    assert path.parent == tmp_path.resolve() and not path.exists()
