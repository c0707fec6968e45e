"""RecordedScores: the task's scores of final answers, kept in the run's call cache.

A replay answers every model call from the call cache; with the scores of those answers kept
beside them, it also never loads lm-eval's task (``datasets`` and lm-eval's task machinery:
0.72 s of a 1.46 s replay on the 2-core machine). The scores are lm-eval's own, recorded the
first time a (task, question, answer text) is scored; the task key
(:attr:`suite.data.tasks.TaskAdapter.key`) changes with lm-eval's version, the entry's files
and the data, so a score recorded under other rules is never read.

Built by :func:`suite.engine.session.build` when ``backend.cache`` is on; ``read`` mode scores
misses with lm-eval and records nothing, as it records no calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

from suite.backends.base import Doc
from suite.backends.cache import CallCache

ScoreMany = Callable[[Sequence[tuple[Doc, str]]], list[float]]

KEY_VERSION = 1  # bump when the key material changes


def score_key(task_key: str, doc_id: str, text: str) -> str:
    """SHA-256 of the canonical JSON of (version, task key, question id, answer text)."""
    material = {"v": KEY_VERSION, "task": task_key, "doc_id": doc_id, "text": text}
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


class RecordedScores:
    """A ``score_many`` that reads recorded scores first and asks the task only for the rest.

    Args:
        store: The call cache file (its ``scores`` table).
        task_key: The task's snapshot key.
        score_many: The task's own scorer (lm-eval's filter and metric), for the misses.
        record: Whether misses are written back (``readwrite``) or not (``read``).
    """

    def __init__(self, store: CallCache, task_key: str, score_many: ScoreMany, record: bool):
        self.store = store
        self.task_key = task_key
        self.score_many = score_many
        self.record = record

    def __call__(self, items: Sequence[tuple[Doc, str]]) -> list[float]:
        """Scores of (question, answer text) pairs, in order; the same as ``score_many``'s."""
        keys = [score_key(self.task_key, doc.doc_id, text) for doc, text in items]
        found = self.store.get_scores(keys)
        todo: dict[str, int] = {}  # first index of each missing key
        for i, key in enumerate(keys):
            if key not in found and key not in todo:
                todo[key] = i
        if todo:
            fresh = self.score_many([items[i] for i in todo.values()])
            found.update(zip(todo, fresh, strict=True))
            if self.record:
                self.store.put_scores(
                    [
                        (key, self.task_key, items[i][0].doc_id, score)
                        for (key, i), score in zip(todo.items(), fresh, strict=True)
                    ]
                )
        return [found[key] for key in keys]
