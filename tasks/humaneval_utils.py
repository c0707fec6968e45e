r"""HumanEval scoring: model code runs only in ``suite.data.sandbox`` (a limited child process).

Filters do the execution because lm-eval hands a filter every response of the task at once,
so a whole batch runs in parallel; ``process_results`` then reads the verdict. The built-in
``humaneval`` entry cannot be reused: its ``utils.py`` downloads HF ``code_eval`` on import
and runs code unsandboxed, and its stop strings (``\ndef``, ``\n#``) would cut the whole
functions our nodes write. This is the one ``tasks/`` module that imports from the suite:
``suite.data.sandbox`` (stdlib only).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from suite.data.sandbox import Limits, RunResult, Sandbox

PASSED = "passed"
FENCED = re.compile(r"```[ \t]*(?:python|py|Python)?[^\n]*\n(.*?)```", re.S)
PAPER_FENCED = re.compile(r"```python\s*(.*?)```", re.S)  # PAPER.md §2, as in the paper's code
PAPER_DEF = re.compile(r"def\s+(\w+)\s*\(")
PAPER_ASSERT = re.compile(r"^assert\s+candidate\s*\((.*?)\)\s*==\s*(.+)")
_SANDBOX: Sandbox | None = None


def sandbox() -> Sandbox:
    """The process's sandbox (the paper's 10 s per check; built on first use)."""
    global _SANDBOX
    if _SANDBOX is None:
        _SANDBOX = Sandbox(Limits(cpu_s=10, wall_s=15.0))
    return _SANDBOX


def extract_code(text: str, entry_point: str) -> str | None:
    """The first fenced code block, else the whole text if it defines ``entry_point``."""
    match = FENCED.search(text)
    if match:
        return match.group(1)
    return text if f"def {entry_point}(" in text else None


def check_program(doc: dict[str, Any], code: str) -> str:
    """HumanEval's full test: the prompt's imports, the code, ``test`` and ``check(entry)``."""
    imports = [ln for ln in doc["prompt"].splitlines() if ln.startswith(("import ", "from "))]
    head = "\n".join(imports)
    return f"{head}\n\n{code}\n\n{doc['test']}\n\ncheck({doc['entry_point']})\n"


def paper_program(doc: dict[str, Any], text: str) -> str | None:
    """The paper's single-assert test (PAPER.md §2), or None when its extraction fails.

    The first fenced ``python`` block, stripped; ``candidate`` renamed to the block's first
    ``def``; one ``assert candidate(...) == ...`` line of the test, chosen by a hash of the
    task id (the paper draws it with ``random.choice`` after ``random.seed(0)``, so its choice
    depends on evaluation order); ``from typing import *`` on top, as the paper's executor.
    Tests with no such line (loops over random inputs) fall back to the full ``check()``.
    """
    block = PAPER_FENCED.search(text)
    if block is None:
        return None
    code = block.group(1).strip()
    name = PAPER_DEF.search(code)
    if name is None:
        return None
    lines = [ln.strip() for ln in doc["test"].splitlines()]
    asserts = [
        f"assert candidate({m.group(1)}) == {m.group(2)}"
        for m in (PAPER_ASSERT.match(ln) for ln in lines)
        if m
    ]
    if not asserts:
        return check_program(doc, code)
    digest = hashlib.sha256(doc["task_id"].encode()).digest()
    chosen = asserts[int.from_bytes(digest[:8], "big") % len(asserts)]
    test = re.sub(r"\bcandidate\b", name.group(1), chosen)
    return f"from typing import *\n{code}\n{test}"


def run_check(resps: list[list[str]], docs: list[dict[str, Any]]) -> list[list[str]]:
    """Custom filter: each response's verdict under HumanEval's full ``check()``."""

    def program(doc: dict[str, Any], text: str) -> str | None:
        code = extract_code(text, doc["entry_point"])
        return None if code is None else check_program(doc, code)

    return _run(resps, docs, program)


def run_paper(resps: list[list[str]], docs: list[dict[str, Any]]) -> list[list[str]]:
    """Custom filter: each response's verdict under the paper's single-assert test."""
    return _run(resps, docs, paper_program)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """``pass@1`` of one problem from its filtered verdict (greedy decoding: one sample)."""
    return {"pass@1": 1.0 if results[0] == PASSED else 0.0}


def _run(
    resps: list[list[str]],
    docs: list[dict[str, Any]],
    program: Callable[[dict[str, Any], str], str | None],
) -> list[list[str]]:
    """Build every program of the batch, run them in parallel, return verdicts in shape."""
    programs = [
        [program(doc, text) for text in group] for group, doc in zip(resps, docs, strict=True)
    ]
    runnable = [p for group in programs for p in group if p is not None]
    results = iter(sandbox().run_many(runnable))
    return [[_verdict(p, results) for p in group] for group in programs]


def _verdict(program: str | None, results: Iterator[RunResult]) -> str:
    if program is None:
        return "failed: no code found"
    result = next(results)
    return PASSED if result.passed else f"{result.status}: {result.detail}"
