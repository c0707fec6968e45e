"""The executor: runs (graph, question) pairs layer by layer, one backend batch per model.

It decides nothing: graphs come from searchers, prompts from ``suite/prompts``, answers from
the backend, and every call is charged to the meter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from suite.backends.base import Backend, Completion, Doc, NodeCall
from suite.core.cost import ModelSpec, call_flops, critical_path_s
from suite.core.graph import FINAL, CallKind, CollabGraph
from suite.core.meter import Meter
from suite.prompts import Message, PromptSet


@dataclass(frozen=True)
class Execution:
    """What one graph did on one question.

    Attributes:
        doc_id: The question.
        final_text: What ``final`` wrote (scored by the task).
        node_texts: The output of every node that ran, ``final`` included.
        prompt_tokens: Prompt tokens over all calls.
        output_tokens: Generated tokens over all calls.
        cost_flops: FLOPs of all calls, from their token counts (PAPER.md §3 formula).
        latency_s: Critical-path latency of the graph on this question.
    """

    doc_id: str
    final_text: str
    node_texts: Mapping[str, str]
    prompt_tokens: int
    output_tokens: int
    cost_flops: float
    latency_s: float


@dataclass
class _Pair:
    graph: CollabGraph
    doc: Doc
    layers: list[tuple[str, ...]]
    depths: dict[str, int]
    done: dict[str, Completion] = field(default_factory=dict)
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = field(default_factory=dict)


class Executor:
    """Runs graphs on questions through one backend.

    Args:
        backend: Answers the calls.
        prompts: The task's prompt set.
        specs: Pool specs by model name (FLOPs of each call).
        meter: Charged with every call, under the purpose given to :meth:`run`.
        task: Task name carried in every call.
        max_tokens: Per-call generation limit for agent nodes (paper: 4,096).
        final_max_tokens: Generation limit of ``final`` (paper: 1,000).
        temperature: Sampling temperature (paper: 0.1).
    """

    def __init__(
        self,
        backend: Backend,
        prompts: PromptSet,
        specs: Mapping[str, ModelSpec],
        meter: Meter,
        task: str,
        *,
        max_tokens: int = 4096,
        final_max_tokens: int = 1000,
        temperature: float = 0.1,
    ) -> None:
        self.backend = backend
        self.prompts = prompts
        self.specs = specs
        self.meter = meter
        self.task = task
        self.max_tokens = max_tokens
        self.final_max_tokens = final_max_tokens
        self.temperature = temperature
        self._messages: dict[tuple[CallKind, str, tuple[str, ...]], tuple[Message, ...]] = {}

    def run(self, pairs: Sequence[tuple[CollabGraph, Doc]], purpose: str) -> list[Execution]:
        """Execute every pair; returns one Execution per pair, in order.

        All pairs advance together: at step k every pair's k-th topological layer is ready,
        its calls are grouped by model, and each group goes to the backend as one batch.
        Nodes with no path to ``final`` are skipped: never called, never charged (PAPER.md
        §8, the official ``Graph.run`` runs only useful nodes).
        """
        used = [(g.used(), d) for g, d in pairs]
        state = [_Pair(g, d, g.layers(), g.depths()) for g, d in used]
        for step in range(max((len(p.layers) for p in state), default=0)):
            by_model: dict[str, list[tuple[_Pair, NodeCall]]] = {}
            for pair in state:
                if step < len(pair.layers):
                    for node_id in pair.layers[step]:
                        call = self._call(pair, node_id)
                        by_model.setdefault(call.model, []).append((pair, call))
            for model in sorted(by_model):
                batch = by_model[model]
                results = self.backend.generate(model, [c for _, c in batch])
                for (pair, call), completion in zip(batch, results, strict=True):
                    pair.done[call.node_id] = completion
                    flops = call_flops(
                        self.specs[model], completion.prompt_tokens, completion.output_tokens
                    )
                    self.meter.charge_call(purpose, model, completion, flops)
        return [self._execution(p) for p in state]

    def _call(self, pair: _Pair, node_id: str) -> NodeCall:
        graph = pair.graph
        kind = graph.call_kind(node_id)
        inputs = tuple(pair.done[p].text for p in graph.preds(node_id))
        key_msg = (kind, pair.doc.doc_id, inputs)
        messages = self._messages.get(key_msg)
        if messages is None:  # identical prompts recur across graphs: render each once
            messages = self.prompts.messages(kind.value, pair.doc.question, inputs)
            if len(self._messages) < 200_000:
                self._messages[key_msg] = messages
        model = graph.node(node_id).model
        key = (model, messages)
        index = pair.seen.get(key, 0)
        pair.seen[key] = index + 1
        return NodeCall(
            task=self.task,
            doc_id=pair.doc.doc_id,
            node_id=node_id,
            kind=kind,
            model=model,
            messages=messages,
            inputs=inputs,
            sample_index=index,
            depth=pair.depths[node_id],
            max_tokens=self.final_max_tokens if node_id == FINAL else self.max_tokens,
            temperature=self.temperature,
        )

    def _execution(self, pair: _Pair) -> Execution:
        done = pair.done
        flops = sum(
            call_flops(self.specs[pair.graph.node(i).model], c.prompt_tokens, c.output_tokens)
            for i, c in done.items()
        )
        return Execution(
            doc_id=pair.doc.doc_id,
            final_text=done[FINAL].text,
            node_texts={i: c.text for i, c in done.items()},
            prompt_tokens=sum(c.prompt_tokens for c in done.values()),
            output_tokens=sum(c.output_tokens for c in done.values()),
            cost_flops=flops,
            latency_s=critical_path_s(pair.graph, {i: c.latency_s for i, c in done.items()}),
        )
