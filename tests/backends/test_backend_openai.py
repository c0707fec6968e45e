"""The openai backend against a local stub server that injects faults (500s, 429s, timeouts,
truncated JSON, a server that dies mid-run), launched servers (a fake ``vllm`` module on
PYTHONPATH) and a whole search that fails, then resumes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, backend_env, group_alive, run_cli
from helpers.openai_stub import MODELS, POOL, StubServer, launch_pool, search_args

from suite.app import cli
from suite.backends.base import NodeCall
from suite.backends.openai import OpenAIBackend
from suite.core.errors import BackendError, ConfigError
from suite.core.graph import CallKind

KEY = "sk-planted-backend-key-9876543210"


@pytest.fixture()
def stub():
    server = StubServer()
    yield server
    server.stop()


def env():
    return backend_env(POOL)


def backend(url, **options):
    opts = {
        "endpoints": {m: url for m in MODELS},
        "backoff_s": 0.01,
        **options,
    }
    return OpenAIBackend.create(opts, env())


def calls(n, model="smollm2-135m", max_tokens=4096):
    return [
        NodeCall(
            "mmlu",
            f"d{i}",
            "n0",
            CallKind.DIRECT,
            model,
            (("system", "s"), ("user", f"question number {i}")),
            (),
            i % 2,
            0,
            max_tokens,
            0.1,
        )
        for i in range(n)
    ]


def test_retries_5xx_429_timeouts_and_truncated_json(stub, monkeypatch):
    monkeypatch.setenv("TTSGB_TEST_KEY", KEY)
    stub.script = [500, 429, "timeout", "truncated", 503]
    b = backend(stub.url, retries=5, timeout_s=0.5, api_key_env="TTSGB_TEST_KEY")
    (out,) = b.generate("smollm2-135m", calls(1))
    assert out.text.startswith("Answer: B") and out.prompt_tokens > 50 and out.output_tokens == 17
    assert len(stub.requests) == 6
    path, headers, body = stub.requests[-1]
    assert path == "/v1/chat/completions" and headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the pool's hf_id
    assert body["max_tokens"] == 96  # the call's 4,096 capped by the pool's serve.max_tokens
    assert body["temperature"] == 0.1 and isinstance(body["seed"], int)
    assert KEY not in json.dumps(b.describe()) and KEY not in json.dumps(
        b.cache_identity("smollm2-135m")
    )


def test_gives_up_in_one_line_naming_model_and_endpoint(stub, monkeypatch):
    monkeypatch.setenv("TTSGB_TEST_KEY", KEY)
    stub.script = [500] * 10
    b = backend(stub.url, retries=2, api_key_env="TTSGB_TEST_KEY")
    with pytest.raises(BackendError) as err:
        b.generate("gemma-3-270m", calls(1, "gemma-3-270m"))
    message = str(err.value)
    assert "gemma-3-270m" in message and stub.url in message and "HTTP 500" in message
    assert "after 3 attempts" in message and KEY not in message and "\n" not in message


def test_client_errors_fail_at_once(stub):
    stub.script = [400]
    with pytest.raises(BackendError, match="HTTP 400"):
        backend(stub.url).generate("smollm2-135m", calls(1))
    assert len(stub.requests) == 1


def test_concurrency_is_bounded_and_order_kept():
    slow = StubServer(delay_s=0.15)
    try:
        out = backend(slow.url, concurrency=3).generate("smollm2-135m", calls(12))
    finally:
        slow.stop()
    assert [o.text.split("[")[1] for o in out] == [f"question number {i}]" for i in range(12)]
    assert 2 <= slow.max_in_flight <= 3


def test_dead_endpoint(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = backend(f"http://127.0.0.1:{port}/v1", retries=1, timeout_s=2)
    with pytest.raises(BackendError, match=f"127.0.0.1:{port}.*smollm2|smollm2.*127.0.0.1:{port}"):
        b.generate("smollm2-135m", calls(1))


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"endpoints": {}}, "no endpoint for ['gemma-3-270m', 'smollm2-135m']"),
        ({"endpoints": {"gpt-9": "http://x/v1"}}, "not in the pool"),
    ],
)
def test_config_errors_are_one_line(options, needle):
    opts = {"endpoints": {m: "http://x/v1" for m in MODELS}}
    with pytest.raises(ConfigError) as err:
        OpenAIBackend.create({**opts, **options}, env())
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_an_unknown_option_is_refused_by_the_schema():
    with pytest.raises(ConfigError) as err:
        cli.compose(["backend=openai", "backend.concurency=2"])
    assert "did you mean 'concurrency'" in str(err.value) and "\n" not in str(err.value)


FAKE_SERVER = """
import argparse, http.server, json, signal, subprocess, sys, time
p = argparse.ArgumentParser()
p.add_argument("--port", type=int)
p.add_argument("--served-model-name")
args, _ = p.parse_known_args()
if "--fail" in sys.argv:
    print("fake vllm: could not load the model", flush=True)
    sys.exit(3)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # an engine core
def bye(*_):  # like vLLM: SIGTERM shuts the engine processes down too
    child.terminate()
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
time.sleep(1.0)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["model"] == args.served_model_name
        out = {"choices": [{"message": {"content": "Answer: C"}}],
               "usage": {"prompt_tokens": 9, "completion_tokens": 3}}
        self.send_response(200); self.end_headers(); self.wfile.write(json.dumps(out).encode())
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", args.port), H).serve_forever()
"""


@pytest.fixture()
def fake_vllm(tmp_path, monkeypatch):
    pkg = tmp_path / "vllm" / "entrypoints" / "openai"
    pkg.mkdir(parents=True)
    for folder in (tmp_path / "vllm", tmp_path / "vllm" / "entrypoints", pkg):
        (folder / "__init__.py").write_text("")
    (pkg / "api_server.py").write_text(FAKE_SERVER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(ROOT)]))


@pytest.mark.slow
def test_launch_starts_waits_and_stops_servers_with_their_children(fake_vllm):
    _, benv = launch_pool()
    b = OpenAIBackend.create({"launch": True, "device": "cpu"}, benv)
    try:
        assert b.servers == {}  # a server starts at its model's first call
        out = b.generate("llama-3.2-1b", calls(3, "llama-3.2-1b"))
        assert [o.text for o in out] == ["Answer: C"] * 3
        assert sorted(b.servers) == ["llama-3.2-1b"]
        b.endpoint("llama-3.2-3b")
        servers = list(b.servers.values())
        assert len({s.port for s in servers}) == 2
        assert b.describe()["endpoints"]["llama-3.2-1b"].startswith("http://127.0.0.1:")
    finally:
        b.close()
    for server in servers:
        assert server.proc.poll() is not None
        assert not group_alive(server.proc.pid)


@pytest.mark.slow
def test_a_server_that_fails_to_start_is_one_line_with_its_log(fake_vllm):
    _, benv = launch_pool()
    opts = {"launch": True, "launch_args": ["--fail"]}
    backend = OpenAIBackend.create(opts, benv)
    with pytest.raises(BackendError) as err:
        backend.generate("llama-3.2-1b", calls(1, "llama-3.2-1b"))
    message = str(err.value)
    assert "exited with code 3" in message and "could not load the model" in message
    assert "\n" not in message


# --- a whole search through the backend --------------------------------------------------


@pytest.mark.slow
def test_server_dies_mid_search_then_the_rerun_resumes(tmp_path):
    counting = StubServer()  # the same search once without faults: how many requests it makes
    try:
        clean = run_cli(
            "suite.run", *search_args(counting.url, tmp_path / "clean", "backend.cache.mode=off")
        )
    finally:
        counting.stop()
    assert clean.returncode == 0, clean.stderr[-2000:]
    total = len(counting.requests)
    server = StubServer()
    port = server.port
    server.script = [200] * (total // 2) + ["die"]
    args = search_args(server.url, tmp_path, "backend.cache.mode=off")
    failed = run_cli("suite.run", *args)
    assert failed.returncode == 2, failed.stderr[-2000:]
    errors = [x for x in failed.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in failed.stderr
    assert f"127.0.0.1:{port}" in errors[0] and "failed after 2 attempts" in errors[0]
    assert any(m in errors[0] for m in MODELS)
    (run_dir,) = (tmp_path / "results" / "mmlu" / "random").iterdir()
    assert json.loads((run_dir / "final.json").read_text())["status"] == "failed"
    again = StubServer(port=port)  # the server is back on the same port
    try:
        resumed = run_cli("suite.run", *args)
    finally:
        again.stop()
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr
    assert Path(resumed.stdout.strip().splitlines()[-1]) == run_dir
    final = json.loads((run_dir / "final.json").read_text())
    assert final["status"] == "completed" and final["backend"] == "openai"
    trials = (run_dir / "trials.jsonl").read_text().splitlines()
    assert len(trials) == final["graph_evals"] and final["question_evals"] == 8
    assert final["test_accuracy"] == pytest.approx(sum(final["test_scores"]) / 6)


@pytest.mark.slow
def test_a_launched_server_dies_with_a_killed_run(fake_vllm):
    script = (
        "import sys, time\n"
        "sys.path.insert(0, 'tests')\n"
        "from helpers.openai_stub import launch_pool\n"
        "from suite.backends.openai import OpenAIBackend\n"
        "pool, benv = launch_pool()\n"
        "b = OpenAIBackend.create({'launch': True}, benv)\n"
        "b.launch(sorted(b.to_launch), {})\n"
        "print(*[s.proc.pid for s in b.servers.values()], flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    server_pids = [int(p) for p in parent.stdout.readline().split()]
    parent.kill()  # SIGKILL: no atexit, no close()
    parent.wait()
    assert len(server_pids) == 2
    assert not any(group_alive(pid, wait_s=15) for pid in server_pids)
