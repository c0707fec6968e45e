"""Dataset loaders for the suite's lm-eval task entries (data, not a package; never imports suite).

Each loader is named in a task YAML as ``custom_dataset: !function utils.<loader>``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import datasets


def _data_dir(data_dir: str | None) -> Path:
    """Return the prepared-data folder.

    This must agree with ``suite.data.data_dir()``: ``$TTSGB_CACHE_DIR/data``, else
    ``~/.cache/tts-graph-bench/data``. A ``data_dir`` given in the task metadata wins.
    """
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get("TTSGB_CACHE_DIR")
    cache = Path(env).expanduser() if env else Path.home() / ".cache" / "tts-graph-bench"
    return cache / "data"


def load_mmlu(data_dir: str | None = None, **kwargs: Any) -> datasets.DatasetDict:
    """Return the prepared MMLU rows as a DatasetDict with one ``test`` split.

    lm-eval 0.4.13 calls ``custom_dataset(**metadata, **dataset_kwargs)``, so ``kwargs`` also
    carries ``version``, ``config_source`` and any TaskManager metadata; they are ignored.

    Raises:
        FileNotFoundError: the data was never prepared.
    """
    path = _data_dir(data_dir) / "mmlu" / "mmlu.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"MMLU data not prepared: run `python -m suite.data prepare mmlu` (no {path})"
        )
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    features = datasets.Features(
        {
            "question": datasets.Value("string"),
            "subject": datasets.Value("string"),
            "choices": datasets.List(datasets.Value("string")),
            "answer": datasets.Value("int64"),
        }
    )
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows, features=features)})
