"""TaskAdapter: an lm-eval task entry from ``tasks/`` as search and test questions plus a scorer.

The only module that imports lm_eval. Scores go through the task's own filters and metric.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from suite.backends.base import AnswerKey, Doc
from suite.config import TaskConfig
from suite.core.errors import ConfigError, DataError
from suite.core.resources import shipped
from suite.data import cache as data
from suite.data import snapshot as snapshots
from suite.data.layout import data_dir
from suite.data.sandbox import Sandbox
from suite.prompts import PromptSet
from suite.sim import answers

TASKS_DIR = shipped("_tasks", "tasks")
"""The lm-eval task entries: ``tasks/`` in a checkout, ``suite/_tasks`` in a wheel."""


def memoize_templates() -> None:
    """Compile each of lm-eval's Jinja templates once per process, not once per use.

    lm-eval renders ``doc_to_text`` and ``doc_to_target`` with ``env.from_string(template)``
    on every call (``lm_eval.utils.apply_template``), and compiling was 96% of loading a task
    (1,331 MMLU questions: 2.3 s of a 2.7 s run) and of scoring. A compiled template renders
    the same text, so lm-eval's environment gets a memoized ``from_string``; calls that pass
    ``globals`` or a template class go to Jinja's own. Idempotent.
    """
    from lm_eval import utils

    env = utils.env
    if getattr(env.from_string, "_tgb_memoized", False):
        return
    compile_once = lru_cache(maxsize=512)(env.from_string)

    def from_string(source: Any, globals: Any = None, template_class: Any = None) -> Any:
        if globals is None and template_class is None and isinstance(source, str):
            return compile_once(source)
        return compile_once.__wrapped__(source, globals, template_class)

    from_string._tgb_memoized = True  # type: ignore[attr-defined]
    env.from_string = from_string


class TaskAdapter:
    """One lm-eval task, split into seeded, disjoint search and test questions.

    Built once per run: prepares the data (on first use), reads the task's questions from its
    snapshot (:mod:`suite.data.snapshot`; the first time, loads the task through a
    ``TaskManager`` that indexes only ``tasks/``, never lm-eval's 10 s default index, and writes
    the snapshot), splits the documents with ``split_seed`` (PAPER.md §9: the first ``test_n``
    of a seeded permutation are the test split, the next ``search_n`` the search split), and
    scores texts with the task's first filter and its metric, loading the task on the first
    score if the snapshot was read.

    A task entry may cap the test split with ``metadata.max_test_n`` (HumanEval: 33, the
    paper's 80/20 split of 164 with ``search_n`` 131); a larger ``test_n`` is lowered to it,
    with a progress message saying so.

    Args:
        cfg: The task config.
        prompts: The task's prompt set (answer format for the sim backend).
        test_n: Questions in the test split.
        progress: Called with one-line messages (data builds, a capped test split).
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
        self._task: Any = None
        self.snapshot = self._snapshot()
        docs = [
            Doc(f"{cfg.name}-{i:05d}", question, row)
            for i, (question, row) in enumerate(
                zip(self.snapshot.questions, self.snapshot.rows, strict=True)
            )
        ]
        self.all_docs = tuple(docs)
        self._targets = {d.doc_id: t for d, t in zip(docs, self.snapshot.targets, strict=True)}
        cap = self.snapshot.max_test_n
        if cap is not None and test_n > cap:
            if progress:
                progress(
                    f"{cfg.name}: test split of {cap} questions (the task's cap; test_n={test_n})"
                )
            test_n = cap
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
        self._keys: dict[tuple[str, int], AnswerKey] = {}

    @property
    def key(self) -> str:
        """The task's snapshot key: changes with lm-eval, the entry's files or the data."""
        return self.snapshot.key

    @property
    def task(self) -> Any:
        """lm-eval's task, loaded on first use: building the snapshot, or scoring a text."""
        if self._task is None:
            self._task = self._load_task()
        return self._task

    def _include(self) -> Path:
        return Path(self.cfg.include_path) if self.cfg.include_path else TASKS_DIR

    def _snapshot(self) -> snapshots.TaskSnapshot:
        """Read the task's snapshot, or load the task and write one (see suite.data.snapshot)."""
        key = snapshots.key_of(
            self.cfg.lm_eval_task, self._include(), self.dataset.sha256, data_dir()
        )
        path = snapshots.path_of(self.cfg.name, key)
        found = snapshots.load(path, key)
        if found is not None:
            return found
        task = self.task
        docs = [dict(raw) for raw in task.eval_docs]
        kwargs = task.config.generation_kwargs or {}
        until = kwargs.get("until", [])
        cap = (task.config.metadata or {}).get("max_test_n")
        made = snapshots.TaskSnapshot(
            key=key,
            questions=tuple(str(task.doc_to_text(raw)) for raw in docs),
            targets=tuple(str(task.doc_to_target(raw)) for raw in docs),
            rows=tuple(docs),
            metric=str(task.config.metric_list[0]["metric"]),
            filter=str(task._filters[0].name),
            until=tuple([until] if isinstance(until, str) else until),
            unsafe_code=bool(task.config.unsafe_code),
            max_test_n=cap if isinstance(cap, int) else None,
        )
        snapshots.save(made, path)
        return made

    def _load_task(self) -> Any:
        logging.getLogger("lm_eval").setLevel(logging.ERROR)
        import datasets
        from lm_eval.tasks import TaskManager

        memoize_templates()
        datasets.disable_progress_bars()  # process_docs maps would print bars on every run

        include = self._include()
        manager = TaskManager(
            include_path=str(include),
            include_defaults=False,
            metadata={"data_dir": str(data_dir())},
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

    @property
    def metric(self) -> str:
        """The task's first metric name (e.g. ``exact_match``)."""
        return self.snapshot.metric

    def doc(self, doc_id: str) -> Doc:
        """A question by id."""
        return self._by_id[doc_id]

    def doc_at(self, index: int) -> Doc:
        """A question by its position in the entry's eval docs (lm-eval's ``doc_id``).

        Raises:
            DataError: if the task has no such question.
        """
        doc_id = f"{self.cfg.name}-{index:05d}"
        if doc_id not in self._by_id:
            raise DataError(f"task {self.cfg.name} has no question {index}")
        return self._by_id[doc_id]

    def target(self, doc: Doc) -> str:
        """The gold answer as the task states it (``doc_to_target``)."""
        if doc.doc_id in self._targets:
            return self._targets[doc.doc_id]
        return str(self.task.doc_to_target(doc.raw))

    def answer_key(self, doc_id: str, n: int) -> AnswerKey:
        """Gold answer and ``n`` distractors of a question, for the sim backend.

        The prompt set's ``sim.kind`` says how answers look: ``letter`` (the other options),
        ``number`` (GSM8K's final number), ``latex`` (MATH's boxed answer) or ``code`` (the
        canonical HumanEval solution, and bodies that raise). Number and LaTeX distractors are
        kept only if the task's own scorer gives their rendered text 0, and the gold text
        must score 1, so the sim's truth and the task's score always agree.

        Raises:
            DataError: if the gold text does not score 1, or too few distractors exist.
        """
        if (doc_id, n) not in self._keys:
            self._keys[doc_id, n] = self._answer_key(self.doc(doc_id), n)
        return self._keys[doc_id, n]

    def _answer_key(self, doc: Doc, n: int) -> AnswerKey:
        kind = str(self.prompts.sim.get("kind", "letter"))
        if kind == "letter":
            gold = self.target(doc)
            options = [str(a) for a in self.prompts.sim["answers"]]
            if gold not in options:
                raise DataError(f"gold answer {gold!r} of {doc.doc_id} is not an option")
            return AnswerKey(gold, tuple(a for a in options if a != gold)[:n])
        if kind == "code":
            prompt = str(doc.raw["prompt"])
            gold = prompt + str(doc.raw["canonical_solution"])
            return AnswerKey(gold, tuple(itertools.islice(answers.code(prompt), n)))
        if kind == "number":
            gold = self.target(doc).rsplit("#### ", 1)[-1].strip()
            candidates = answers.numbers(gold, answers.seed_of(doc.doc_id))
        elif kind == "latex":
            gold = str(doc.raw.get("answer") or self.target(doc))
            candidates = answers.latex(gold, answers.seed_of(doc.doc_id))
        else:
            raise ConfigError(f"prompts of {self.cfg.name}: unknown sim.kind {kind!r}")
        return AnswerKey(gold, self._scored_wrong(doc, gold, candidates, n))

    def _scored_wrong(
        self, doc: Doc, gold: str, candidates: Iterator[str], n: int
    ) -> tuple[str, ...]:
        """The first ``n`` candidates whose rendered text the task scores 0 (gold must be 1)."""
        template = Template(str(self.prompts.sim["answer_template"]))
        if self.score(doc, template.substitute(answer=gold)) != 1.0:
            raise DataError(
                f"{doc.doc_id}: the task scores the sim's gold text wrong (gold {gold!r}); "
                f"the sim cannot simulate {self.cfg.lm_eval_task}"
            )
        kept: list[str] = []
        for candidate in itertools.islice(candidates, 20 * n + 20):
            if len(kept) == n:
                break
            if self.score(doc, template.substitute(answer=candidate)) == 0.0:
                kept.append(candidate)
        if len(kept) < n:
            raise DataError(f"{doc.doc_id}: found {len(kept)} wrong answers, the sim needs {n}")
        return tuple(kept)

    def score(self, doc: Doc, text: str) -> float:
        """Score a final answer with the task's own filter and metric (cut at ``until`` first)."""
        return self.score_many([(doc, text)])[0]

    def score_many(self, items: Sequence[tuple[Doc, str]]) -> list[float]:
        """Score several (doc, text) pairs; the first filter of the task's filter list counts."""
        return self.score_extracted([d for d, _ in items], self.extract_many(items))

    def score_extracted(self, docs: Sequence[Doc], answers: Sequence[Any]) -> list[float]:
        """Score answers already extracted by :meth:`extract_many` with the task's metric."""
        out = []
        for doc, extracted in zip(docs, answers, strict=True):
            key = (doc.doc_id, repr(extracted))
            if key not in self._scores:  # lm-eval recompiles its Jinja target on every call
                result = self.task.process_results(doc.raw, [extracted])
                self._scores[key] = float(result[self.metric])
            out.append(self._scores[key])
        return out

    def extract_many(self, items: Sequence[tuple[Doc, str]]) -> list[Any]:
        """The answers the task's first filter extracts from (doc, text) pairs (cut at ``until``).

        For tasks with a fallback (MMLU's letter filter) an unparseable reply gives the
        fallback value, e.g. ``"[invalid]"``.
        """
        instances = []
        for doc, text in items:
            for stop in self.snapshot.until:
                text = text.split(stop, 1)[0]
            inst = self.task.construct_requests(
                doc=doc.raw, ctx=doc.question, metadata=(self.task.config.task, 0, 1)
            )
            inst = inst[0] if isinstance(inst, list) else inst
            inst.resps = [text]
            instances.append(inst)
        ensemble = self.task._filters[0]
        ensemble.apply(instances)
        return [inst.filtered_resps[ensemble.name] for inst in instances]

    def describe(self) -> dict[str, Any]:
        """What results record about the task, its data and its scorer (filter and metric)."""
        record = {
            "name": self.cfg.name,
            "lm_eval_task": self.cfg.lm_eval_task,
            "metric": self.metric,
            "filter": self.snapshot.filter,
            "dataset": self.dataset.as_record(),
            "split_seed": self.cfg.split_seed,
            "search_n": len(self.search_docs),
            "test_n": len(self.test_docs),
        }
        if self.snapshot.unsafe_code:  # the task runs model code: say how it was confined
            record["sandbox"] = Sandbox().guarantees()
        return record
