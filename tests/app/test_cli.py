"""The command line as a user meets it: real subprocesses, real files."""

import importlib.util
import json
from pathlib import Path

import pytest
from helpers import run_cli

pytestmark = pytest.mark.slow  # every test here starts the commands in a fresh interpreter


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    proc = run_cli("suite.run", f"results_dir={results}")
    assert proc.returncode == 0, proc.stderr
    return proc, results


def test_default_run_writes_a_complete_run_folder(default_run):
    proc, results = default_run
    last = proc.stdout.strip().splitlines()[-1]
    run_dir = Path(last)
    assert run_dir.parent == results / "mmlu" / "agent_reinforce" and run_dir.name.endswith("-s0")
    assert {"config.yaml", "trials.jsonl", "final.json"} <= {p.name for p in run_dir.iterdir()}
    final = json.loads((run_dir / "final.json").read_text())
    for key in (
        "status",
        "task",
        "searcher",
        "backend",
        "seed",
        "graph",
        "graph_digest",
        "test_accuracy",
        "test_n",
        "cost_flops",
        "budget_units",
        "graph_evals",
    ):
        assert key in final
    assert final["status"] == "completed" and final["backend"] == "sim" and final["simulated"]
    assert final["searcher_label"] == "agent_reinforce[heuristic]"
    assert final["test_n"] == 100 and 31 <= final["question_evals"] <= 40  # pre-test + 10 x 3
    assert final["budget"]["search_question_evals"] == 40 and final["pilot"]["question_evals"] > 0
    assert 0.0 <= final["test_accuracy"] <= 1.0
    assert final["test_ci95"][0] <= final["test_accuracy"] <= final["test_ci95"][1]
    trials = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == final["graph_evals"]
    assert sum(len(t["scores"]) for t in trials) == final["question_evals"]
    loop = [t for t in trials if t["info"]["phase"] == "loop"]
    assert [t["iteration"] for t in loop] == list(range(10))  # the paper's 10 x 3, all of it
    assert all(len(t["scores"]) == 3 for t in loop)
    for t in trials:
        assert t["reward"] == pytest.approx(sum(t["scores"]) / len(t["scores"]))
        assert t["graph_digest"] and t["backend"] == "sim"
    config = (run_dir / "config.yaml").read_text()
    assert "${" not in config and "world_seed: 0" in config
    assert "sim (simulated LLMs" in proc.stdout and "test accuracy" in proc.stdout
    assert "agent_reinforce[heuristic]" in proc.stdout


def test_same_seed_same_trials_byte_for_byte(default_run, tmp_path):
    proc, _ = default_run
    first = Path(proc.stdout.strip().splitlines()[-1])
    again = run_cli("suite.run", f"results_dir={tmp_path}")
    second = Path(again.stdout.strip().splitlines()[-1])
    assert (first / "trials.jsonl").read_bytes() == (second / "trials.jsonl").read_bytes()
    other = run_cli("suite.run", f"results_dir={tmp_path}", "seed=1")
    third = Path(other.stdout.strip().splitlines()[-1])
    assert (third / "trials.jsonl").read_bytes() != (first / "trials.jsonl").read_bytes()


def test_evaluate_a_found_graph_and_a_single_model(default_run, tmp_path):
    proc, _ = default_run
    final = Path(proc.stdout.strip().splitlines()[-1]) / "final.json"
    again = run_cli("suite.evaluate", f"graph={final}", f"out={tmp_path / 'e.json'}")
    assert again.returncode == 0, again.stderr
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["test_accuracy"] == json.loads(final.read_text())["test_accuracy"]
    single = run_cli("suite.evaluate", "graph=single:llama-3.1-70b")
    assert single.returncode == 0 and "test accuracy" in single.stdout


def one_line_error(proc):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-400:])
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["searcher=randm"], "did you mean 'random'"),
        (["task=mmlx"], "did you mean 'mmlu'"),
        (["backend=simm"], "did you mean 'sim'"),
        (["pool=llama4"], "did you mean 'llama3'"),
        (["budget=paperr"], "did you mean 'u12' (formerly 'paper')"),
        (["budget.units=0"], "budget.units"),
        (["seed=abc"], "seed must be an integer"),
        (["seed=1.5"], "seed must be an integer"),
        (["sed=1"], "did you mean 'seed'"),
        (["searcher.recomend=best"], "did you mean 'recommend'"),
        (["searcher.recommend=median"], "'best' or 'last'"),
        (["results_dir=/proc/forbidden"], "not writable"),
        (["seed=[1"], "malformed override"),
        (["test_n=5000"], "lower one of them"),
        (["-m", "searcher=random,nosuch"], "unknown searcher 'nosuch'"),
        (["agent=gpt"], "unknown agent 'gpt'"),
        (["budget=u7"], "unknown budget 'u7'"),
        (["budget.units=-3"], "budget.units"),
        (["test_n=0"], "test_n must be >= 1"),
        (["batch_size=abc"], "batch_size must be an integer"),
        (["n_iterations=0"], "n_iterations must be >= 1"),
        (["resume=maybe"], "resume must be auto, true or false"),
        (["pool.models.1.name=llama-3.2-1b"], "twice"),
        (["pool.final_model=gpt-9"], "final_model"),
        (["backend.world_seed=x"], "world_seed must be an integer"),
        (["searcher.recommend=3"], "'best' or 'last'"),
        (["agent=openai", "agent.nosuch=1"], "unknown config key 'agent.nosuch'"),
        (["task.search_n=0"], "task.search_n must be >= 1"),
        (["pool.models.0.params=lots"], "malformed"),
        (["hydra.bogus=1"], "Key 'bogus' not in 'HydraConf'"),
        (["hydra.launcher.n_jobs=2"], "not in 'BasicLauncherConf'"),  # joblib not selected
        (["hydra.job.chdir=maybe"], "not a valid bool"),
        (["hydra/launcher=nope"], "Could not find 'hydra/launcher/nope'"),
        (
            [
                "searcher=agent_reinforce",
                "agent=openai",
                "agent.base_url=http://127.0.0.1:9/v1",
                "agent.retries=0",
                "agent.timeout_s=2",
            ],
            "agent model deepseek-r1 at http://127.0.0.1:9",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    if not any(a.startswith("results_dir") for a in args):
        args = [*args, f"results_dir={tmp_path}"]
    assert needle in one_line_error(run_cli("suite.run", *args))
    for final in tmp_path.rglob("final.json"):  # nothing half-written looks complete
        assert json.loads(final.read_text())["status"] == "failed"


def test_budget_too_small_for_any_model(tmp_path):
    pool = [
        "pool.models.0.units.default=3",
        f"results_dir={tmp_path}",
        "budget=u12",
        "budget.units=2",
        "pool.final_model=llama-3.2-3b",
    ]
    line = one_line_error(run_cli("suite.run", *pool))
    assert "too small" in line


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        (
            '{"final_model": "llama-3.2-3b", "nodes": [{"id": "n0", "model": "llama-3.2-1b", '
            '"role": "assistant"}, {"id": "n1", "model": "llama-3.2-1b", "role": "assistant"}], '
            '"edges": [["n0", "n1"], ["n1", "n0"], ["n1", "final"]]}',
            "cycle",
        ),
        (
            '{"final_model": "llama-3.2-3b", "nodes": [{"id": "n0", "model": "gpt-9", '
            '"role": "assistant"}], "edges": [["n0", "final"]]}',
            "not in the pool",
        ),
        (
            '{"final_model": "llama-3.2-3b", "nodes": [{"id": "n0", "model": "llama-3.2-1b", '
            '"role": "assistant"}], "edges": []}',
            "no predecessor",
        ),
    ],
)
def test_evaluate_rejects_bad_graphs(content, needle, tmp_path):
    path = tmp_path / "graph.json"
    path.write_text(content)
    assert needle in one_line_error(run_cli("suite.evaluate", f"graph={path}"))


def test_evaluate_missing_file_and_unknown_model():
    assert "does not exist" in one_line_error(run_cli("suite.evaluate", "graph=/nonexistent.json"))
    assert "not in the pool" in one_line_error(run_cli("suite.evaluate", "graph=single:gpt-9"))


def test_help_lists_the_config_groups():
    proc = run_cli("suite.run", "--help")
    assert proc.returncode == 0
    assert (
        "searcher: agent_reinforce, llm_proposal, maao, optuna_tpe, random, reinforce"
        in proc.stdout
    )
    assert "pool: llama3, llama3_gemma, qwen2_5, tiny_cpu" in proc.stdout


@pytest.mark.parametrize("searcher", ["agent_reinforce", "textgrad", "llm_proposal"])
def test_agent_searchers_are_labelled_heuristic(searcher, tmp_path):
    proc = run_cli("suite.run", f"searcher={searcher}", f"results_dir={tmp_path}", "test_n=20")
    assert proc.returncode == 0, proc.stderr[-2000:]
    final = json.loads((Path(proc.stdout.strip().splitlines()[-1]) / "final.json").read_text())
    assert final["searcher_label"] == f"{searcher}[heuristic]" and final["agent"] == "heuristic"
    assert final["agent_calls"] > 0 and final["meter"]["agent"]["calls"] == final["agent_calls"]
    assert f"{searcher}[heuristic]" in proc.stdout


def test_api_key_never_reaches_any_written_file(tmp_path):
    """A planted key is sent to the endpoint but appears in no result, log or checkpoint."""
    import http.server
    import threading

    key = "sk-planted-9f8e7d6c5b4a-never-write-me"
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get("Authorization"))
            body = json.dumps({"choices": [{"message": {"content": "no idea"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = run_cli(
            "suite.run",
            "searcher=agent_reinforce",
            "agent=openai",
            f"agent.base_url=http://127.0.0.1:{server.server_address[1]}/v1",
            "agent.api_key_env=PLANTED_KEY",
            f"results_dir={tmp_path}",
            "test_n=10",
            env={"PLANTED_KEY": key},
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert seen and all(h == f"Bearer {key}" for h in seen)
    assert key not in proc.stdout + proc.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "trials.jsonl" for p in files)
    for path in files:
        assert key not in path.read_text(errors="replace"), path
    final = json.loads(next(tmp_path.rglob("final.json")).read_text())
    assert final["searcher_label"] == "agent_reinforce[openai:deepseek-r1]"


@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None,
    reason="the Ray launcher is installed here",
)
def test_a_launcher_preset_without_its_plugin_names_the_install(tmp_path):
    res = run_cli(
        "suite.run", "-m", "seed=0", "+experiment/launcher=ray", f"results_dir={tmp_path}"
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == 'error: the ray launcher is not installed; pip install -e ".[ray]"'
