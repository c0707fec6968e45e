"""The executor: runs (graph, question) pairs as dataflow, each call sent once its inputs are in.

It decides nothing: graphs come from searchers, prompts from ``suite/prompts``, answers from
the backend, and every call is charged to the meter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from suite.backends.base import Backend, Completion, Doc, NodeCall
from suite.core.cost import ModelSpec, call_flops, critical_path_s
from suite.core.errors import BackendError
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
    """One (graph, question) pair in flight: finished calls and, per model, calls not yet built.

    ``queues`` holds each model's nodes in topological order (layer by layer); a node's call
    is built only when it heads its model's queue and its inputs are complete, so the
    ``sample_index`` of identical calls follows that order whatever order calls finish in.
    """

    index: int
    graph: CollabGraph
    doc: Doc
    order: dict[str, int]
    depths: dict[str, int]
    queues: dict[str, deque[str]]
    done: dict[str, Completion] = field(default_factory=dict)
    seen: dict[tuple[str, tuple[Message, ...]], int] = field(default_factory=dict)

    @classmethod
    def of(cls, index: int, graph: CollabGraph, doc: Doc) -> _Pair:
        order = [i for layer in graph.layers() for i in layer]
        queues: dict[str, deque[str]] = {}
        for node_id in order:
            queues.setdefault(graph.node(node_id).model, deque()).append(node_id)
        return cls(index, graph, doc, {n: k for k, n in enumerate(order)}, graph.depths(), queues)

    def ready(self) -> list[str]:
        """Pop every node whose call can be built now (see the class docstring)."""
        out = []
        for queue in self.queues.values():
            while queue and all(p in self.done for p in self.graph.preds(queue[0])):
                out.append(queue.popleft())
        return out


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

        Dataflow: a node's call goes to the backend (:meth:`Backend.submit`) the moment its
        inputs are complete, so deep and shallow graphs and different questions overlap; a
        backend that batches continuously (vLLM's engine step loop, concurrent HTTP requests)
        runs them together. Backends that only answer whole batches get, per model, every
        call ready in a round: one batch per model per topological layer. Nodes with no path
        to ``final`` are skipped: never called, never charged (PAPER.md §8, the official
        ``Graph.run`` runs only useful nodes). Calls are charged to the meter in topological
        order (layer, model, pair, node) once the pairs are done, so the meter, like every
        answer, does not depend on the order in which calls finish.
        """
        state = [_Pair.of(k, g.used(), d) for k, (g, d) in enumerate(pairs)]
        tickets: dict[int, tuple[_Pair, NodeCall]] = {}
        try:
            self._submit(state, tickets)
            pending = len(tickets)
            while pending:
                finished = self.backend.collect()
                if not finished:
                    raise BackendError(
                        f"backend {self.backend.name} returned no answer for {pending} calls "
                        "still in flight; this is a bug in the backend, please report it"
                    )
                touched: dict[int, _Pair] = {}
                for ticket, completion in finished:
                    pair, call = tickets[ticket]
                    pair.done[call.node_id] = completion
                    touched[pair.index] = pair
                    pending -= 1
                pending += self._submit([touched[k] for k in sorted(touched)], tickets)
        except BaseException:
            self.backend.cancel()  # the next run must not collect this run's calls
            raise
        finally:
            self._charge(purpose, tickets.values())
        return [self._execution(p) for p in state]

    def _submit(self, pairs: Sequence[_Pair], tickets: dict[int, tuple[_Pair, NodeCall]]) -> int:
        """Build the calls that became ready in ``pairs`` and submit them, grouped by model."""
        by_model: dict[str, list[tuple[int, NodeCall]]] = {}
        for pair in pairs:  # in pair order, each pair's nodes in topological order
            for node_id in sorted(pair.ready(), key=pair.order.__getitem__):
                call = self._call(pair, node_id)
                ticket = len(tickets)
                tickets[ticket] = (pair, call)
                by_model.setdefault(call.model, []).append((ticket, call))
        for model in sorted(by_model):
            self.backend.submit(model, by_model[model])
        return sum(len(b) for b in by_model.values())

    def _charge(self, purpose: str, calls: Iterable[tuple[_Pair, NodeCall]]) -> None:
        """Charge the finished calls in topological order, independent of finishing order."""
        finished = [(p, c) for p, c in calls if c.node_id in p.done]
        finished.sort(
            key=lambda pc: (pc[1].depth, pc[1].model, pc[0].index, pc[0].order[pc[1].node_id])
        )
        for pair, call in finished:
            completion = pair.done[call.node_id]
            flops = call_flops(
                self.specs[call.model], completion.prompt_tokens, completion.output_tokens
            )
            self.meter.charge_call(purpose, call.model, completion, flops)

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
