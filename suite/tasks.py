"""TaskAdapter: an lm-eval task entry from ``tasks/`` as search and test questions plus a scorer.

The only module that imports lm_eval. Scores go through the task's own filters and metric.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from suite import data
from suite.backends.sim import AnswerKey
from suite.config import TaskConfig
from suite.errors import ConfigError, DataError
from suite.executor import Doc
from suite.prompts import PromptSet

TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"


class TaskAdapter:
    """One lm-eval task, split into seeded, disjoint search and test questions.

    Built once per run: prepares the data (on first use), loads the task through a
    ``TaskManager`` that indexes only ``tasks/`` (never lm-eval's 10 s default index), splits
    the documents with ``split_seed``, and scores texts with the task's filters and metric.

    Args:
        cfg: The task config.
        prompts: The task's prompt set (answer space for the sim backend).
        test_n: Questions in the test split (the first ``test_n`` of the seeded permutation).
        progress: Called with one-line messages while data is being built.
    """

    def __init__(
        self,
        cfg: TaskConfig,
        prompts: PromptSet,
        test_n: int,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.prompts = prompts
        self.dataset = data.prepare(cfg.data, progress=progress)
        self.task = self._load_task()
        docs = [self._doc(i, raw) for i, raw in enumerate(self.task.eval_docs)]
        need = test_n + cfg.search_n
        if need > len(docs):
            raise ConfigError(
                f"task {cfg.name} has {len(docs)} questions; test_n={test_n} plus "
                f"task.search_n={cfg.search_n} needs {need}; lower one of them"
            )
        order = np.random.default_rng(cfg.split_seed).permutation(len(docs))
        self.test_docs = tuple(docs[i] for i in order[:test_n])
        self.search_docs = tuple(docs[i] for i in order[test_n:need])
        self._by_id = {d.doc_id: d for d in docs}
        self._scores: dict[tuple[str, str], float] = {}  # (doc id, extracted answer) -> metric

    def _load_task(self) -> Any:
        logging.getLogger("lm_eval").setLevel(logging.ERROR)
        from lm_eval.tasks import TaskManager

        include = Path(self.cfg.include_path) if self.cfg.include_path else TASKS_DIR
        manager = TaskManager(
            include_path=str(include),
            include_defaults=False,
            metadata={"data_dir": str(data.data_dir())},
        )
        try:
            loaded = manager.load([self.cfg.lm_eval_task])["tasks"]
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                f"lm-eval task '{self.cfg.lm_eval_task}' not found under {include}: {exc}"
            ) from exc
        except FileNotFoundError as exc:
            raise DataError(str(exc)) from exc
        return loaded[self.cfg.lm_eval_task]

    def _doc(self, index: int, raw: Mapping[str, Any]) -> Doc:
        doc_id = f"{self.cfg.name}-{index:05d}"
        return Doc(doc_id, str(self.task.doc_to_text(raw)), dict(raw))

    @cached_property
    def _until(self) -> tuple[str, ...]:
        kwargs = self.task.config.generation_kwargs or {}
        until = kwargs.get("until", [])
        return tuple([until] if isinstance(until, str) else until)

    @cached_property
    def metric(self) -> str:
        """The task's first metric name (e.g. ``exact_match``)."""
        return str(self.task.config.metric_list[0]["metric"])

    def doc(self, doc_id: str) -> Doc:
        """A question by id."""
        return self._by_id[doc_id]

    def target(self, doc: Doc) -> str:
        """The gold answer as the task states it."""
        return str(self.task.doc_to_target(doc.raw))

    def answer_key(self, doc_id: str) -> AnswerKey:
        """Gold answer and distractors of a question, for the sim backend."""
        gold = self.target(self.doc(doc_id))
        answers = [str(a) for a in self.prompts.sim["answers"]]
        if gold not in answers:
            raise DataError(f"gold answer {gold!r} of {doc_id} is not in the task's answer space")
        return AnswerKey(gold, tuple(a for a in answers if a != gold))

    def score(self, doc: Doc, text: str) -> float:
        """Score a final answer with the task's own filter and metric (cut at ``until`` first)."""
        return self.score_many([(doc, text)])[0]

    def score_many(self, items: Sequence[tuple[Doc, str]]) -> list[float]:
        """Score several (doc, text) pairs; the first filter of the task's filter list counts."""
        instances = []
        for doc, text in items:
            for stop in self._until:
                text = text.split(stop, 1)[0]
            inst = self.task.construct_requests(
                doc=doc.raw, ctx=doc.question, metadata=(self.task.config.task, 0, 1)
            )
            inst = inst[0] if isinstance(inst, list) else inst
            inst.resps = [text]
            instances.append(inst)
        ensemble = self.task._filters[0]
        ensemble.apply(instances)
        out = []
        for (doc, _), inst in zip(items, instances, strict=True):
            extracted = inst.filtered_resps[ensemble.name]
            key = (doc.doc_id, repr(extracted))
            if key not in self._scores:  # lm-eval recompiles its Jinja target on every call
                result = self.task.process_results(doc.raw, [extracted])
                self._scores[key] = float(result[self.metric])
            out.append(self._scores[key])
        return out

    def describe(self) -> dict[str, Any]:
        """What results record about the task and its data."""
        return {
            "name": self.cfg.name,
            "lm_eval_task": self.cfg.lm_eval_task,
            "metric": self.metric,
            "filter": self.task._filters[0].name,
            "dataset": self.dataset.as_record(),
            "split_seed": self.cfg.split_seed,
            "search_n": len(self.search_docs),
            "test_n": len(self.test_docs),
        }
