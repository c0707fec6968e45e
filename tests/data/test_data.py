"""Tests for suite.data.cache: the MMLU build from the evals wheel, the cache, load_rows, the CLI.

The other data sets are tested in tests/test_data_sources.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from helpers import run_cli

from suite.core.errors import DataError
from suite.core.io import cache_dir
from suite.data import cache as data
from suite.data.cache import DatasetInfo

RETRY = "python -m suite.data prepare mmlu"
KNOWN = "arith_synthetic, gsm8k, gsm8k_synthetic, humaneval, math, math_synthetic, mmlu"
MMLU_ROWS = 1331  # unique (question, choices) pairs in evals 3.0.1.post1's sandbagging files


@pytest.fixture(scope="session")
def mmlu() -> DatasetInfo:
    """The real MMLU set in the user's real cache: downloaded once per machine, then reused."""
    return data.prepare("mmlu")


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _row(question: str, answer: str, topic: str | None = None) -> str:
    row = {"question": f"{question}\nA. a1\nB. b1\nC. c1\nD. d1\nAnswer:", "answer": answer}
    if topic is not None:
        row["topic"] = topic
    return json.dumps(row)


def _fake_wheel(path: Path, members: dict[str, str]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(f"evals/registry/data/sandbagging/{name}", text)
        archive.writestr("evals/__init__.py", "")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def fake_wheel(
    empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Serve a small hand-made wheel instead of downloading; tests fill in its members."""
    members: dict[str, str] = {}

    def download(dest: Path) -> Path:
        wheel = _fake_wheel(dest / "evals-3.0.1.post1-py3-none-any.whl", members)
        monkeypatch.setattr(data, "EVALS_WHEEL_SHA256", data.sha256_file(wheel))
        return wheel

    monkeypatch.setattr(data, "_download_wheel", download)
    return members


def _expect_rows(monkeypatch: pytest.MonkeyPatch, n_rows: int) -> None:
    builder = dataclasses.replace(data.BUILDERS["mmlu"], n_rows=n_rows, sha256=None)  # fake rows
    monkeypatch.setitem(data.BUILDERS, "mmlu", builder)


# --- the real data ---------------------------------------------------------------------------


def test_mmlu_rows_have_the_lm_eval_schema(mmlu: DatasetInfo) -> None:
    rows = data.load_rows("mmlu")
    assert mmlu.n_rows == len(rows) == MMLU_ROWS
    for row in rows:
        assert set(row) == {"question", "subject", "choices", "answer"}
        assert isinstance(row["question"], str) and row["question"].strip()
        assert len(row["choices"]) == 4 and all(isinstance(c, str) for c in row["choices"])
        assert row["answer"] in range(4)
    # 9 stems recur in MMLU with other choices (e.g. "Which of the following statements is false?")
    assert len({(r["question"], tuple(r["choices"])) for r in rows}) == MMLU_ROWS
    subjects = {r["subject"] for r in rows}
    assert {"astronomy", "professional_law", ""} <= subjects


def test_second_prepare_is_fast_and_identical(mmlu: DatasetInfo) -> None:
    start = time.perf_counter()
    again = data.prepare("mmlu")
    assert time.perf_counter() - start < 0.5
    assert again == mmlu
    assert hashlib.sha256(mmlu.path.read_bytes()).hexdigest() == mmlu.sha256


def test_meta_json_matches_the_info(mmlu: DatasetInfo) -> None:
    meta = json.loads((mmlu.path.parent / "meta.json").read_text())
    record = mmlu.as_record()
    assert record["path"] == str(mmlu.path) == str(data.data_dir() / "mmlu" / "mmlu.jsonl")
    assert meta == {key: value for key, value in record.items() if key != "path"}
    assert json.loads(json.dumps(record)) == record
    assert "openai/evals 3.0.1.post1" in mmlu.source


# --- building from a hand-made wheel (no network) --------------------------------------------


def test_build_dedupes_recovers_subjects_and_sorts(
    fake_wheel: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_wheel["samples-all.jsonl"] = _row("Q1", "B", "high school biology") + "\n"
    fake_wheel["samples-all-large.jsonl"] = "\n".join([_row("Q1", "B"), _row("Q2", "D")])
    fake_wheel["samples-ast.jsonl"] = _row("Q3", "A")
    _expect_rows(monkeypatch, 3)
    messages: list[str] = []
    info = data.prepare("mmlu", progress=messages.append)
    rows = {r["question"]: r for r in data.load_rows("mmlu")}
    assert rows["Q1"] == {
        "question": "Q1", "subject": "high_school_biology",
        "choices": ["a1", "b1", "c1", "d1"], "answer": 1,
    }  # fmt: skip
    assert (rows["Q2"]["subject"], rows["Q2"]["answer"]) == ("", 3)
    assert rows["Q3"]["subject"] == "astronomy"
    assert len(messages) == 2 and "one-time" in messages[0] and str(info.path) in messages[0]
    first = info.path.read_bytes()
    assert data.prepare("mmlu", force=True).path.read_bytes() == first  # byte-identical


def test_a_wrong_row_count_is_refused(fake_wheel: dict[str, str], empty_cache: Path) -> None:
    fake_wheel["samples-all.jsonl"] = _row("Q1", "B")
    with pytest.raises(DataError, match=f"gave 1 rows, not {MMLU_ROWS}.*{RETRY}"):
        data.prepare("mmlu")
    assert not (empty_cache / "data" / "mmlu" / "meta.json").exists()


@pytest.mark.parametrize(
    "line",
    ["{not json", json.dumps({"question": "no choices\nAnswer:", "answer": "A"}),
     json.dumps({"question": "Q\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:", "answer": "E"})],
)  # fmt: skip
def test_a_malformed_row_names_member_and_line(fake_wheel: dict[str, str], line: str) -> None:
    fake_wheel["samples-ast.jsonl"] = _row("Q1", "A") + "\n" + line + "\n"
    with pytest.raises(DataError, match=f"samples-ast.jsonl line 2.*{RETRY}"):
        data.prepare("mmlu")


def test_a_corrupted_cache_is_rebuilt(
    fake_wheel: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_wheel["samples-all.jsonl"] = _row("Q1", "B")
    _expect_rows(monkeypatch, 1)
    info = data.prepare("mmlu")
    info.path.write_text("{broken\n")
    assert data.prepare("mmlu").path.read_text() == _expected_line("Q1", 1)


def _expected_line(question: str, answer: int) -> str:
    row = {"question": question, "subject": "", "choices": ["a1", "b1", "c1", "d1"]}
    return json.dumps({**row, "answer": answer}) + "\n"


# --- failures ----------------------------------------------------------------------------------


def test_pip_failure_is_one_line_data_error(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pip_fails(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
        err = "WARNING: retrying\nERROR: No matching distribution found for evals==3.0.1.post1\n"
        return subprocess.CompletedProcess(cmd, 1, "", err)

    monkeypatch.setattr(data.subprocess, "run", pip_fails)
    with pytest.raises(DataError) as caught:
        data.prepare("mmlu")
    message = str(caught.value)
    assert "\n" not in message and RETRY in message and "No matching distribution" in message
    assert not (empty_cache / "data" / "mmlu" / "mmlu.jsonl").exists()


def test_no_pip_at_all_is_a_data_error(empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise OSError("network is unreachable")

    monkeypatch.setattr(data.subprocess, "run", no_network)
    with pytest.raises(DataError, match=f"network is unreachable.*{RETRY}"):
        data.prepare("mmlu")


def test_a_corrupt_wheel_is_a_data_error(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def download(dest: Path) -> Path:
        wheel = dest / "evals-3.0.1.post1-py3-none-any.whl"
        wheel.write_bytes(b"not a zip")
        return wheel

    monkeypatch.setattr(data, "_download_wheel", download)
    with pytest.raises(DataError, match=f"corrupt wheel.*{RETRY}"):
        data.prepare("mmlu")
    monkeypatch.setattr(data, "EVALS_WHEEL_SHA256", hashlib.sha256(b"not a zip").hexdigest())
    with pytest.raises(DataError, match=f"corrupt wheel.*{RETRY}"):
        data.prepare("mmlu")


def test_load_rows_never_builds(empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "_download_wheel", _must_not_run)
    with pytest.raises(DataError, match=f"not prepared.*{RETRY}"):
        data.load_rows("mmlu")


def _must_not_run(dest: Path) -> Path:
    raise AssertionError("must not download")


def test_a_corrupt_line_names_file_and_line(empty_cache: Path) -> None:
    path = empty_cache / "data" / "mmlu" / "mmlu.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(_expected_line("Q1", 0) + '{"question": "Q2", \n')
    with pytest.raises(DataError) as caught:
        data.load_rows("mmlu")
    assert f"{path} at line 2" in str(caught.value) and RETRY in str(caught.value)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(DataError, match=f"unknown data set 'nosuch'; known: {KNOWN}$"):
        data.prepare("nosuch")
    with pytest.raises(DataError, match=f"known: {KNOWN}$"):
        data.load_rows("nosuch")


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSGB_CACHE_DIR", "/some/where")
    assert data.data_dir() == Path("/some/where/data")
    monkeypatch.delenv("TTSGB_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "tts-graph-bench"


# --- the command line --------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_prepare_prints_one_line_per_set(mmlu: DatasetInfo) -> None:
    done = run_cli("suite.data", "prepare", "mmlu")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"mmlu: {MMLU_ROWS} rows, source: {mmlu.source}, path: {mmlu.path}"
    ]


@pytest.mark.slow
def test_cli_unknown_name_is_one_line_exit_2() -> None:
    done = run_cli("suite.data", "prepare", "nosuch")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: unknown data set 'nosuch'; known: {KNOWN}"]
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.slow
def test_cli_help() -> None:
    done = run_cli("suite.data", "--help")
    assert done.returncode == 0 and "prepare" in done.stdout
