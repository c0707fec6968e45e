"""Data loading and built-in reuse for the suite's lm-eval task entries (data, not a package).

Imports lm_eval and the stdlib only, never the suite (except ``suite.data.sandbox`` in
``humaneval_utils.py``). YAMLs name these as ``!function utils.<name>``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import datasets
import lm_eval.tasks
from lm_eval.api.task import ConfigurableTask
from lm_eval.tasks._yaml_loader import load_yaml  # private: lm-eval is pinned to 0.4.13

BUILTIN_TASKS = Path(lm_eval.tasks.__file__).resolve().parent
LETTERS = "ABCD"


def _data_dir(data_dir: str | None) -> Path:
    """Return the prepared-data folder.

    This must agree with ``suite.data.layout.data_dir()``: ``$TTSGB_CACHE_DIR/data``, else
    ``~/.cache/tts-graph-bench/data``. A ``data_dir`` given in the task metadata wins.
    """
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("TTSGB_CACHE_DIR")
    cache = Path(env).expanduser() if env else Path.home() / ".cache" / "tts-graph-bench"
    return cache / "data"


def load_prepared(name: str, data_dir: str | None = None, **kwargs: Any) -> datasets.DatasetDict:
    """Return a prepared data set as a DatasetDict with one ``test`` split.

    lm-eval 0.4.13 calls ``custom_dataset(**metadata, **dataset_kwargs)``; ``name`` comes from
    the YAML's ``dataset_kwargs`` and ``data_dir`` from the metadata (``TaskManager(metadata=
    ...)`` or ``--metadata``); ``kwargs`` also carries ``version`` and ``config_source``.

    Raises:
        FileNotFoundError: the data set was never prepared (names the command).
    """
    path = _data_dir(data_dir) / name / f"{name}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{name} data not prepared: run `python -m suite.data prepare {name}` (no {path})"
        )
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


class DerivedTask(ConfigurableTask):  # type: ignore[misc]
    """A built-in lm-eval task entry, re-pointed at prepared data by the YAML that names it.

    ``metadata.derive_from`` names the built-in YAML (relative to lm-eval's ``tasks/``). Its
    prompt, target, filters, metric and generation settings are loaded at run time from
    lm-eval's own file, so they are never copied here; keys set in our YAML win. Used as
    ``class: !function utils.DerivedTask``.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        ours = {k: v for k, v in config.items() if k != "class"}
        base = load_yaml(BUILTIN_TASKS / ours["metadata"]["derive_from"], resolve_func=True)
        for key in ("tag", "group", "task_alias", "dataset_path", "dataset_name"):
            base.pop(key, None)
        merged = {**base, **ours}
        merged["metadata"] = {**(base.get("metadata") or {}), **ours["metadata"]}
        super().__init__(config=merged)


def paper_letter(resps: list[list[str]], docs: list[dict[str, Any]]) -> list[list[str]]:
    r"""The paper's MMLU answer rule (PAPER.md §2), as a custom filter.

    Tries A, B, C, D in that order and returns the first letter L for which the text
    contains ``answer is:\n\nL``, ``L.`` or ``Answer: L``, or ends with L; else ``UNKNOWN``.
    It leans toward A (any ``A.`` matches), as the paper's code does.
    """
    return [[_paper_letter(text) for text in group] for group in resps]


def _paper_letter(text: str) -> str:
    for letter in LETTERS:
        marks = (f"answer is:\n\n{letter}", f"{letter}.", f"Answer: {letter}")
        if any(mark in text for mark in marks) or text.endswith(letter):
            return letter
    return "UNKNOWN"
