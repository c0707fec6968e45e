"""The vllm backend without vLLM: config errors, the missing extra, and the batching contract
against a fake ``vllm`` module (one ``LLM.generate`` per model per layer, per-call sampling
parameters, the CPU settings). The real engine runs in test_backend_vllm_real.py."""

import dataclasses
import importlib.machinery
import importlib.util
import json
import os
import queue
import sys
import threading
import types

import pytest
from helpers import backend_env, pool, run_cli

from suite.app import cli
from suite.backends.base import Doc, NodeCall
from suite.backends.serving import ServeSpec, cpu_environment, serve_specs
from suite.backends.vllm import VllmBackend
from suite.core.errors import BackendError, ConfigError, DataError
from suite.core.graph import CallKind, CollabGraph
from suite.core.meter import Meter
from suite.engine.executor import Executor
from suite.prompts import load

TINY = pool("tiny_cpu")
LLAMA = pool("llama3")
HAVE_VLLM = importlib.util.find_spec("vllm") is not None


class FakeTokenizer:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert not tokenize and add_generation_prompt
        return " ".join(f"<{m['role']}> {m['content']}" for m in messages) + " <assistant>"

    def __call__(self, text, add_special_tokens):
        assert not add_special_tokens
        return {"input_ids": list(range(len(text.split())))}


def fake_output(prompt, params, request_id=""):
    first = types.SimpleNamespace(text="Answer: A\nso.", token_ids=[7] * min(5, params.max_tokens))
    return types.SimpleNamespace(
        request_id=request_id,
        finished=True,
        prompt_token_ids=prompt["prompt_token_ids"],
        outputs=[first],
    )


class FakeEngine:
    """vLLM's LLMEngine step loop: every request added before a step finishes at that step."""

    def __init__(self, llm):
        self.llm, self.waiting = llm, []

    def add_request(self, request_id, prompt, params):
        assert params.output_kind == "final_only"
        self.waiting.append((request_id, prompt, params))

    def abort_request(self, request_ids):
        self.waiting = [w for w in self.waiting if w[0] not in request_ids]

    def step(self):
        batch, self.waiting = self.waiting, []
        self.llm.batches.append([(prompt, p) for _, prompt, p in batch])
        return [fake_output(prompt, p, rid) for rid, prompt, p in batch]


class FakeLLM:
    instances: list = []  # noqa: RUF012

    def __init__(self, **kwargs):
        self.kwargs, self.batches = kwargs, []
        in_process = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") != "1"  # as vLLM reads it
        self.llm_engine = FakeEngine(self) if in_process else FakeProcessEngine(self)
        FakeLLM.instances.append(self)

    def get_tokenizer(self):
        return FakeTokenizer()

    def generate(self, prompts, params, use_tqdm):
        assert not use_tqdm and len(prompts) == len(params)
        self.batches.append(list(zip(prompts, params, strict=True)))
        return [fake_output(prompt, p) for prompt, p in zip(prompts, params, strict=True)]


class SamplingParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


@pytest.fixture()
def fake_vllm(monkeypatch, tmp_path):
    module = types.ModuleType("vllm")
    module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    module.LLM, module.SamplingParams = FakeLLM, SamplingParams
    kinds = types.ModuleType("vllm.sampling_params")
    kinds.RequestOutputKind = types.SimpleNamespace(FINAL_ONLY="final_only")
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", kinds)
    FakeLLM.instances = []
    saved = dict(os.environ)
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path))
    for folder in ("smollm2-135m-instruct", "gemma-3-270m"):
        (tmp_path / "models" / folder).mkdir(parents=True)
        (tmp_path / "models" / folder / "config.json").write_text("{}")
    yield module
    os.environ.clear()
    os.environ.update(saved)


def env_of(pool, units=3):
    return backend_env(pool, units)


def tiny_backend(**options):
    return VllmBackend.create({"device": "cpu", **options}, env_of(TINY))


GRAPH = CollabGraph.from_dict(
    {
        "final_model": "smollm2-135m",
        "nodes": [
            {"id": "n0", "model": "smollm2-135m", "role": "assistant"},
            {"id": "n1", "model": "gemma-3-270m", "role": "assistant"},
            {"id": "n2", "model": "smollm2-135m", "role": "assistant"},
        ],
        "edges": [["n0", "final"], ["n1", "final"], ["n2", "final"]],
    }
)


def test_one_generate_per_model_per_layer_with_per_call_parameters(fake_vllm):
    backend = tiny_backend(per_call_seed=True)
    meter = Meter(10)
    docs = [Doc(f"q{i}", f"What is {i} + 1? A. 1 B. 2 C. 3 D. 4", {}) for i in range(3)]
    specs = env_of(TINY).space.specs
    runs = Executor(backend, load("mmlu"), specs, meter, "mmlu").run(
        [(GRAPH, d) for d in docs], "search"
    )
    engines = {e.kwargs["model"].rsplit("/", 1)[1]: e for e in FakeLLM.instances}
    assert [len(b) for b in engines["smollm2-135m-instruct"].batches] == [6, 3]  # layer, final
    assert [len(b) for b in engines["gemma-3-270m"].batches] == [3]
    params = [p for b in engines["smollm2-135m-instruct"].batches for _, p in b]
    assert {p.max_tokens for p in params} == {96}  # 4,096 and 1,000 capped by serve.max_tokens
    assert {p.temperature for p in params} == {0.1}
    layer = engines["smollm2-135m-instruct"].batches[0]
    seeds = {(p.seed, len(prompt["prompt_token_ids"])) for prompt, p in layer}
    assert len({s for s, _ in seeds}) == 2  # n0 and n2 ask the same prompt: sample 0 and 1
    assert all(r.output_tokens == 5 * 4 and r.prompt_tokens > 0 for r in runs)
    assert meter.tally("search").calls == 12
    kwargs = engines["gemma-3-270m"].kwargs
    assert kwargs["dtype"] == "float32" and kwargs["distributed_executor_backend"] == "uni"
    assert kwargs["enforce_eager"] is True and "gpu_memory_utilization" not in kwargs
    assert kwargs["max_model_len"] == 4096 and "revision" not in kwargs
    assert os.environ["VLLM_TARGET_DEVICE"] == "cpu"
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    info = backend.describe()
    assert set(info["engine_start_s"]) == {"smollm2-135m", "gemma-3-270m"}
    assert str(fake_vllm.__name__) == "vllm" and "/" not in json.dumps(info["models"])
    backend.close()
    assert backend.engines == {}


def test_gpu_settings_come_from_the_pool(fake_vllm):
    pool = {**LLAMA, "models": LLAMA["models"][:2]}
    backend = VllmBackend.create({"device": "cuda"}, env_of(pool))
    backend.generate("llama-3.2-1b", [])
    assert FakeLLM.instances == []  # engines start on first use only
    backend.engine("llama-3.2-3b")
    kwargs = FakeLLM.instances[0].kwargs
    assert kwargs["model"] == "meta-llama/Llama-3.2-3B-Instruct" and kwargs["revision"] == "main"
    assert kwargs["dtype"] == "bfloat16" and kwargs["gpu_memory_utilization"] == 0.18
    assert kwargs["tensor_parallel_size"] == 1 and kwargs["enforce_eager"] is False
    assert "distributed_executor_backend" not in kwargs


def test_a_prompt_longer_than_the_context_is_a_backend_error(fake_vllm):
    models = [{**m, "serve": {**m["serve"], "max_model_len": 8}} for m in TINY["models"]]
    backend = VllmBackend.create({"device": "cpu"}, env_of({**TINY, "models": models}))
    docs = [Doc("q0", "a question that is certainly longer than eight words in total", {})]
    with pytest.raises(BackendError, match="max_model_len 8"):
        Executor(backend, load("mmlu"), env_of(TINY).space.specs, Meter(1), "mmlu").run(
            [(GRAPH, docs[0])], "search"
        )


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"device": "tpu"}, "auto, cpu or cuda"),
    ],
)
def test_option_errors_are_one_line(fake_vllm, options, needle):
    with pytest.raises(ConfigError) as err:
        VllmBackend.create(options, env_of(TINY))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_the_pool_models_come_from_the_session_and_options_from_the_schema(fake_vllm):
    no_models = dataclasses.replace(env_of(TINY), pool_models=())
    with pytest.raises(ConfigError, match=r"pool\.models must be the pool's model list"):
        VllmBackend.create({}, no_models)
    with pytest.raises(ConfigError) as err:
        cli.compose(["backend=vllm", "backend.devise=cpu"])
    assert "did you mean 'device'" in str(err.value) and "\n" not in str(err.value)
    assert "pool_models" not in cli.compose(["backend=vllm"])["backend"]


def test_unknown_serve_key_and_missing_weights(fake_vllm, tmp_path, monkeypatch):
    bad = [{**TINY["models"][0], "serve": {"weigths": "x"}}]
    with pytest.raises(ConfigError, match="did you mean 'weights'"):
        serve_specs(bad, "backend")
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataError) as err:
        tiny_backend()
    assert "python -m suite.models prepare tiny_cpu" in str(err.value)


def test_the_generation_cap():
    spec = ServeSpec("m", "m", max_model_len=100, max_tokens=96)
    assert spec.cap(4096, 10) == 90 and spec.cap(50, 10) == 50 and spec.cap(4096, 100) == 0
    assert ServeSpec("m", "m").cap(4096, 10) == 4096


def test_cpu_environment_uses_the_cores_we_have():
    env = cpu_environment(2)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2" and int(env["OMP_NUM_THREADS"]) >= 1


@pytest.mark.slow
@pytest.mark.skipif(HAVE_VLLM, reason="vLLM is installed here")
def test_missing_extra_names_the_pip_command_in_one_line():
    with pytest.raises(ConfigError) as err:
        VllmBackend.create({}, env_of(TINY))
    assert 'pip install -e ".[gpu]"' in str(err.value) and '".[cpu]"' in str(err.value)
    proc = run_cli("suite.run", "backend=vllm", "pool=tiny_cpu", "results_dir=/tmp", timeout=120)
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr
    assert 'pip install -e ".[cpu]"' in errors[0]


def test_the_agent_llm_on_an_engine_is_metered_as_search_cost(fake_vllm):
    from suite.config import registry
    from suite.search.agents import MeteredAgent
    from suite.search.searcher import AgentRequest

    options = {"model": "smollm2", "weights": "smollm2-135m-instruct", "max_tokens": 64}
    agent = registry.resolve("agent", "vllm_engine").create({**options, "device": "cpu"}, None)
    meter = Meter(3)
    reply = MeteredAgent(agent, meter).ask(AgentRequest("update", (("system", "s"), ("user", "u"))))
    assert reply.text == "Answer: A\nso." and reply.output_tokens == 5 and reply.prompt_tokens > 0
    assert agent.name == "vllm_engine:smollm2" and meter.tally("agent").calls == 1
    ((_, params),) = FakeLLM.instances[0].batches[0]
    assert params.max_tokens == 64 and params.temperature == 0.1
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):  # its schema's check
        cli.compose(["agent=vllm_engine", "agent.temprature=1"])


def test_the_agent_replays_from_the_call_cache_without_starting_its_engine(fake_vllm, tmp_path):
    from suite.config import registry
    from suite.search.searcher import AgentRequest

    composed = cli.compose(["agent=vllm_engine"])["agent"]
    assert composed["cache"] == {"mode": "readwrite", "path": None}
    cache = {"mode": "readwrite", "path": str(tmp_path / "agent.sqlite")}
    options = {"model": "smollm2", "weights": "smollm2-135m-instruct", "device": "cpu"}
    create = registry.resolve("agent", "vllm_engine").create
    request = AgentRequest("update", (("system", "s"), ("user", "u")))
    first = create({**options, "cache": cache}, None)
    recorded = first.ask(request)
    first.close()
    assert len(FakeLLM.instances) == 1 and first.describe()["cache"]["misses"] == 1
    second = create({**options, "cache": cache}, None)
    assert second.ask(request) == recorded
    info = second.describe()
    assert len(FakeLLM.instances) == 1  # every call hit: no engine was constructed
    assert info["cache"]["hits"] == 1 and info["engine_start_s"] == {}
    replay = create({**options, "cache": {**cache, "mode": "read"}}, None)
    with pytest.raises(BackendError) as err:  # a miss in read mode names the agent's key
        replay.ask(AgentRequest("update", (("user", "something new"),)))
    assert "agent.cache.mode=read" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"agent\.cache\.mode must be one of"):
        create({**options, "cache": {"mode": "sometimes"}}, None)


def test_prefix_caching_is_a_backend_option(fake_vllm):
    assert cli.compose(["backend=vllm"])["backend"]["prefix_caching"] is None
    off = cli.compose(["backend=vllm", "backend.prefix_caching=false"])["backend"]
    backend = tiny_backend(prefix_caching=off["prefix_caching"])
    backend.engine("smollm2-135m")
    assert FakeLLM.instances[0].kwargs["enable_prefix_caching"] is False
    tiny_backend().engine("smollm2-135m")  # null: the engine's own default is left alone
    assert "enable_prefix_caching" not in FakeLLM.instances[1].kwargs


class FakeProcessEngine(FakeEngine):
    """An engine core in its own process: it computes unasked and queues one output per step;
    stepping with nothing queued would block, so here it fails."""

    def __init__(self, llm):
        super().__init__(llm)
        self.engine_core = types.SimpleNamespace(outputs_queue=queue.Queue())
        self.steps = 0

    def compute(self):  # what the core process does on its own
        batch, self.waiting = self.waiting, []
        self.engine_core.outputs_queue.put(batch)

    def step(self):
        assert not self.engine_core.outputs_queue.empty(), "stepped an engine with no output"
        self.steps += 1
        batch = self.engine_core.outputs_queue.get()
        self.llm.batches.append([(prompt, p) for _, prompt, p in batch])
        return [fake_output(prompt, p, rid) for rid, prompt, p in batch]


def test_engines_in_their_own_processes_are_stepped_only_when_an_output_waits(fake_vllm):
    backend = tiny_backend(engine_process=True)
    for model in ("smollm2-135m", "gemma-3-270m"):
        backend.engine(model)
    assert os.environ["OMP_NUM_THREADS"] == str(max(1, len(os.sched_getaffinity(0)) // 2))
    messages = (("user", "What is 1 + 1? A. 1 B. 2 C. 3 D. 4"),)
    call = NodeCall("mmlu", "q0", "n0", CallKind.DIRECT, "smollm2-135m", messages, (), 0, 0, 8, 0.1)
    backend.submit("smollm2-135m", [(0, call)])
    backend.submit("gemma-3-270m", [(1, dataclasses.replace(call, model="gemma-3-270m"))])
    slow, fast = (backend.engines[m].llm_engine for m in ("smollm2-135m", "gemma-3-270m"))
    fast.compute()  # gemma's core finished first; smollm2's is still decoding
    assert [t for t, _ in backend.collect()] == [1] and slow.steps == 0
    threading.Timer(0.05, slow.compute).start()  # collect waits for it without stepping it
    assert [t for t, _ in backend.collect()] == [0] and slow.steps == 1
    assert backend.describe()["engine_process"] == {"gemma-3-270m": True, "smollm2-135m": True}
    backend.close()


def test_cancel_aborts_the_requests_in_flight(fake_vllm):
    backend = tiny_backend()
    messages = (("user", "What is 1 + 1? A. 1 B. 2 C. 3 D. 4"),)
    call = NodeCall(
        "mmlu", "q0", "n0", CallKind.DIRECT, "smollm2-135m", messages, (), 0, 0, 64, 0.1
    )
    backend.submit("smollm2-135m", [(0, call), (1, call)])  # nobody collects them
    (engine,) = FakeLLM.instances
    assert len(engine.llm_engine.waiting) == 2
    backend.cancel()
    assert engine.llm_engine.waiting == [] and backend.collect() == []
    backend.close()
