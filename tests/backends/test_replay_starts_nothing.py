"""A run answered entirely from the call cache imports neither torch nor vLLM and starts no
engine or server: ``suite.run``, ``suite.evaluate`` and ``lm_eval --model collab-graph``.
``suite.run`` and ``suite.evaluate`` also read the task's snapshot and recorded scores, so they
import neither lm-eval nor ``datasets``.

The recording runs use a fake ``vllm`` package (an in-process engine that answers at once);
the replays put packages named ``vllm`` and ``torch`` (and, for the suite's own commands,
``lm_eval`` and ``datasets``) first on the path that raise when imported, so building an engine
or loading lm-eval's task (or importing torch for any reason) fails the replay.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, backend_env, cache_with_data, offline_env, pool
from helpers.openai_stub import StubServer

from suite.backends import cache
from suite.backends.base import NodeCall
from suite.backends.openai import OpenAIBackend
from suite.core.graph import CallKind

FAKE_VLLM = """
import types


class SamplingParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class _Tokenizer:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return " ".join(m["content"] for m in messages)

    def __call__(self, text, add_special_tokens):
        return {"input_ids": list(range(len(text.split())))}


def _output(request_id, prompt, params):
    n = len(prompt["prompt_token_ids"])
    first = types.SimpleNamespace(text=f"Answer: {'ABCD'[n % 4]}", token_ids=[1] * 3)
    return types.SimpleNamespace(
        request_id=request_id, finished=True, prompt_token_ids=prompt["prompt_token_ids"],
        outputs=[first],
    )


class _Engine:
    def __init__(self):
        self.waiting = []

    def add_request(self, request_id, prompt, params):
        self.waiting.append((request_id, prompt, params))

    def step(self):
        batch, self.waiting = self.waiting, []
        return [_output(*r) for r in batch]


class LLM:
    def __init__(self, **kwargs):
        self.llm_engine = _Engine()

    def get_tokenizer(self):
        return _Tokenizer()

    def generate(self, prompts, params, use_tqdm=False):
        return [_output("", p, s) for p, s in zip(prompts, params)]
"""
TRAP = "raise RuntimeError('{name} was imported during a replay')\n"
WRAPPER = (
    "import json, sys\n"
    "from suite.app.run import main\n"
    "rc = main(sys.argv[1:])\n"
    "print('HEAVY', json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
    "('torch', 'vllm', 'lm_eval', 'datasets'))))\n"
    "sys.exit(rc)\n"
)


ENGINES = ("vllm", "torch")
ENGINES_AND_LM_EVAL = ("vllm", "torch", "lm_eval", "datasets")


def packages(folder: Path, trap: bool, names: tuple[str, ...] = ENGINES) -> Path:
    """A folder with a fake ``vllm`` (and, for replays, a trap package for each of ``names``)."""
    if trap:
        for name in names:
            (folder / name).mkdir(parents=True)
            (folder / name / "__init__.py").write_text(TRAP.format(name=name))
    else:
        (folder / "vllm").mkdir(parents=True)
        (folder / "vllm" / "__init__.py").write_text(FAKE_VLLM)
        (folder / "vllm" / "sampling_params.py").write_text(
            "import types\nRequestOutputKind = types.SimpleNamespace(FINAL_ONLY='final_only')\n"
        )
    return folder


@pytest.fixture()
def cache_home(tmp_path):
    """A cache folder with the real task data and empty stand-ins for the tiny weights."""
    home = cache_with_data(tmp_path)
    for folder in ("smollm2-135m-instruct", "gemma-3-270m"):
        (home / "models" / folder).mkdir(parents=True)
        (home / "models" / folder / "config.json").write_text("{}")
    return home


def run(cmd, home, path, cwd=ROOT):
    env = offline_env({"TTSGB_CACHE_DIR": str(home)})
    env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT)])
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


SEARCH = [
    "backend=vllm",
    "backend.device=cpu",
    "pool=tiny_cpu",
    "task=mmlu",
    "searcher=random",
    "n_iterations=2",
    "batch_size=2",
    "test_n=2",
    "budget.units=3",
    "budget.pretest_question_evals=0",
]


@pytest.mark.slow
def test_replays_of_run_evaluate_and_lm_eval_start_nothing(tmp_path, cache_home):
    fake, trap = packages(tmp_path / "fake", False), packages(tmp_path / "trap", True)
    trap_all = packages(tmp_path / "trap_all", True, ENGINES_AND_LM_EVAL)
    python = [sys.executable, "-c", WRAPPER]
    args = [*SEARCH, f"results_dir={tmp_path / 'results'}"]
    first = run([*python, *args], cache_home, fake)
    again = run([*python, *args, "resume=false"], cache_home, trap_all)
    heavy = json.loads(first.stdout.split("HEAVY ", 1)[1].splitlines()[0])
    assert {"vllm", "vllm.sampling_params", "lm_eval", "datasets"} <= set(heavy)  # recorded
    assert "HEAVY []" in again.stdout
    dirs = [Path(p.stdout.strip().splitlines()[-2]) for p in (first, again)]
    finals = [json.loads((d / "final.json").read_text()) for d in dirs]
    recorded, replayed = (f["backend_info"] for f in finals)
    assert recorded["cache"]["backend_calls"] > 0 and set(recorded["engine_start_s"]) == {
        "smollm2-135m",
        "gemma-3-270m",
    }
    assert replayed["cache"]["backend_calls"] == 0 and replayed["cache"]["misses"] == 0
    assert recorded["cache"]["scores"]["misses"] > 0 and replayed["cache"]["scores"] == {
        "hits": recorded["cache"]["scores"]["misses"],
        "misses": 0,
    }
    assert replayed["engine_start_s"] == {}
    assert (dirs[0] / "trials.jsonl").read_bytes() == (dirs[1] / "trials.jsonl").read_bytes()
    # suite.evaluate of the final graph on the same test questions: all hits
    graph = f"graph={dirs[0] / 'final.json'}"
    evaluate = [sys.executable, "-m", "suite.evaluate", graph, *SEARCH, f"results_dir={tmp_path}"]
    run(evaluate, cache_home, trap_all)
    # lm-eval's CLI: recorded once with the fake engine, then replayed
    lm_eval = [
        str(Path(sys.executable).parent / "lm_eval"),
        "--model", "collab-graph",
        "--model_args", f"graph={dirs[0] / 'final.json'},backend=vllm,pool=tiny_cpu",
        "--include_path", str(ROOT / "tasks"), "--tasks", "mmlu_graph", "--limit", "2",
        "--seed", "0,1234,None,1234",  # lm-eval itself imports torch, where found, to seed it
    ]  # fmt: skip
    scores = [run(lm_eval, cache_home, p, cwd=tmp_path).stdout for p in (fake, trap)]
    rows = [next(x for x in s.splitlines() if x.startswith("|mmlu_graph")) for s in scores]
    assert rows[0] == rows[1]


class NeverStarts:
    """A server factory that fails the test if a server is ever built."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("a server was started for a call the cache answers")


def node_call(i, model):
    return NodeCall(
        "mmlu", f"q{i}", "n0", CallKind.DIRECT, model, (("user", f"question {i}"),), (), 0, 0,
        64, 0.1,
    )  # fmt: skip


def answer_all(backend, model, calls):
    backend.submit(model, list(enumerate(calls)))
    out = {}
    while len(out) < len(calls):
        out.update(backend.collect())
    return [out[k] for k in range(len(calls))]


def test_a_cached_launch_starts_no_server_until_the_first_miss(tmp_path, monkeypatch):
    env = backend_env(pool("tiny_cpu"))
    model = env.space.model_names[0]
    server, started = StubServer(), []

    class StubFactory:
        def __init__(self, spec, *args, **kwargs):
            started.append(spec.name)
            self.base_url = server.url

        def wait_healthy(self, timeout_s):
            return 0.0

        def stop(self):
            return None

    def backend():
        inner = OpenAIBackend.create({"launch": True, "device": "cpu"}, env)
        return cache.wrap(inner, {"mode": "readwrite", "path": str(tmp_path / "c.sqlite")})

    calls = [node_call(i, model) for i in range(3)]
    try:
        monkeypatch.setattr(OpenAIBackend, "server_factory", StubFactory)
        first = backend()
        assert started == []  # nothing starts before a call misses
        recorded = answer_all(first, model, calls)
        assert started == [model]  # only the model that was called
        first.close()
        monkeypatch.setattr(OpenAIBackend, "server_factory", NeverStarts)
        again = backend()
        assert answer_all(again, model, calls) == recorded
        assert again.describe()["cache"]["hits"] == 3
        with pytest.raises(AssertionError, match="a server was started"):
            answer_all(again, model, [node_call(9, model)])  # the first miss starts one
        again.close()
    finally:
        server.stop()
