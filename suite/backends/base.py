"""The Backend interface and the values that cross it (NodeCall in, Completion out)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from suite.core.graph import CallKind
from suite.core.space import GraphSpace
from suite.prompts import Message, PromptSet


@dataclass(frozen=True)
class Doc:
    """One question: a stable id, the question text nodes see, and the task's raw record."""

    doc_id: str
    question: str
    raw: Mapping[str, object] = field(repr=False, compare=False)


@dataclass(frozen=True)
class NodeCall:
    """One chat call of one node on one question.

    Carries the rendered ``messages`` for real models and the structured fields the ``sim``
    backend reads instead of parsing prompts.

    Attributes:
        task: Task name.
        doc_id: Stable id of the question.
        node_id: The node making the call (``final`` included).
        kind: Which template rendered the messages.
        model: Pool model name.
        messages: System and user messages.
        inputs: The predecessors' answer texts, in the order shown in the prompt.
        sample_index: Identical earlier calls of the same graph on the same question; distinct
            samples of one prompt differ only in it.
        depth: Longest path from a root to the node.
        max_tokens: Generation limit.
        temperature: Sampling temperature.
    """

    task: str
    doc_id: str
    node_id: str
    kind: CallKind
    model: str
    messages: tuple[Message, ...]
    inputs: tuple[str, ...]
    sample_index: int
    depth: int
    max_tokens: int
    temperature: float


@dataclass(frozen=True)
class Completion:
    """A call's answer with what it measurably cost."""

    text: str
    prompt_tokens: int
    output_tokens: int
    latency_s: float


@dataclass(frozen=True)
class AnswerKey:
    """A question's gold answer and its distractors, as the task states answers.

    E.g. ``B`` and ``(A, C, D)`` for MMLU, ``72`` and nearby numbers for GSM8K, a complete
    function and broken ones for HumanEval. Built by the task adapter for the ``sim`` backend.
    """

    gold: str
    distractors: tuple[str, ...]


@dataclass(frozen=True)
class BackendEnv:
    """What the composition root hands a backend factory besides its own options.

    Attributes:
        task: Task name.
        pool: Pool name.
        space: The run's space (model specs, token averages).
        prompts: The task's prompt set.
        answer_key: ``(doc id, number of distractors) -> AnswerKey`` (read only by the
            ``sim`` backend, which asks for as many distractors as its profile has).
        pool_models: The pool's model entries (``pool.models``) with their ``serve:``
            settings, read by the backends that serve real models.
    """

    task: str
    pool: str
    space: GraphSpace
    prompts: PromptSet
    answer_key: Callable[[str, int], AnswerKey]
    pool_models: Sequence[Mapping[str, Any]] = ()


class Backend(abc.ABC):
    """Answers calls in whole batches (:meth:`generate`) or as a stream (:meth:`submit`).

    The executor submits each call the moment its inputs are complete, tagged with a ticket,
    and collects finished calls until none is in flight. Backends that batch continuously
    (an engine step loop, concurrent requests) override :meth:`submit` and :meth:`collect`;
    the default answers, at each :meth:`collect`, every call submitted since the last one with
    one :meth:`generate` per model (in model-name order): one batch per model per topological
    layer. :meth:`close` is called once at the end of the run.
    """

    name: ClassVar[str] = ""
    simulated: ClassVar[bool] = False
    streams: ClassVar[bool] = False  # True where submit/collect batch continuously
    _queued: dict[str, list[tuple[int, NodeCall]]]

    @classmethod
    @abc.abstractmethod
    def create(cls, options: Mapping[str, Any], env: BackendEnv) -> Backend:
        """Build the backend from ``backend/<name>.yaml`` options (``name`` removed)."""

    @abc.abstractmethod
    def generate(self, model: str, calls: Sequence[NodeCall]) -> list[Completion]:
        """Answer ``calls`` (all for ``model``), in order."""

    def submit(self, model: str, calls: Sequence[tuple[int, NodeCall]]) -> None:
        """Queue ``(ticket, call)`` pairs (all for ``model``); answers come from :meth:`collect`."""
        if not hasattr(self, "_queued"):
            self._queued = {}
        self._queued.setdefault(model, []).extend(calls)

    def collect(self) -> list[tuple[int, Completion]]:
        """Wait for at least one submitted call; return ``(ticket, completion)`` of those done.

        Returns an empty list only when nothing is in flight.
        """
        queued, self._queued = getattr(self, "_queued", {}), {}
        out: list[tuple[int, Completion]] = []
        for model in sorted(queued):
            tickets = [t for t, _ in queued[model]]
            answers = self.generate(model, [c for _, c in queued[model]])
            out.extend(zip(tickets, answers, strict=True))
        return out

    def cancel(self) -> None:
        """Drop every call in flight (the executor failed; nobody will collect them)."""
        self._queued = {}

    def describe(self) -> dict[str, object]:
        """What results record about the backend (no secrets)."""
        return {"name": self.name, "simulated": self.simulated}

    def close(self) -> None:
        """Release engines, servers or files."""
        return None
