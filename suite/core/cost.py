"""The FLOPs and latency model of PAPER.md §3: per-node prefill + decode, graph totals, the cap.

Pure functions over frozen specs; the simulator and the meter both use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from suite.core.graph import FINAL, CollabGraph


@dataclass(frozen=True)
class ModelSpec:
    """What the cost model knows of one model (PAPER.md §3 "Model pool specs").

    Attributes:
        name: The pool's name for the model (the key used in graphs).
        params: Non-embedding parameters M.
        layers: Transformer layers L.
        hidden: Hidden size D.
        size_rank: Size class, smallest first; repair deletes the smallest class first.
        unit_cost: Integer cost in budget units for the run's task (1B-model calls).
        prefill_tok_s: Throughput profile for latency: prompt tokens per second.
        decode_tok_s: Throughput profile for latency: generated tokens per second.
    """

    name: str
    params: float
    layers: int
    hidden: int
    size_rank: int
    unit_cost: int
    prefill_tok_s: float = 10_000.0
    decode_tok_s: float = 100.0


@dataclass(frozen=True)
class TokenProfile:
    """A task's average input (A) and output (B) lengths in tokens (PAPER.md §3)."""

    input_tokens: int
    output_tokens: int

    def prompt_tokens(self, in_degree: int) -> int:
        """Np = A + d_in * B: the task input plus one answer per predecessor."""
        return self.input_tokens + in_degree * self.output_tokens


def call_flops(spec: ModelSpec, prompt_tokens: int, output_tokens: int) -> float:
    """FLOPs of one call: prefill + KV-cached decode, 2 FLOPs per multiply-add (PAPER.md §3)."""
    m, depth, width = spec.params, spec.layers, spec.hidden
    n_p, n_d = prompt_tokens, output_tokens
    prefill = 2 * m * n_p + 2 * depth * width * n_p * (n_p + 1)
    decode = 2 * m * n_d + 2 * depth * width * n_d * (2 * n_p + n_d + 1)
    return float(prefill + decode)


def node_flops(spec: ModelSpec, in_degree: int, tokens: TokenProfile) -> float:
    """Estimated FLOPs of a node with ``in_degree`` predecessors, from the task averages."""
    return call_flops(spec, tokens.prompt_tokens(in_degree), tokens.output_tokens)


def graph_flops(graph: CollabGraph, specs: Mapping[str, ModelSpec], tokens: TokenProfile) -> float:
    """cost(G): the sum over every node that runs, ``final`` included, of the node's FLOPs.

    Nodes with no path to ``final`` never run and cost nothing (PAPER.md §8). The official
    ``flops_cost`` sums every node of the graph, used or not; the suite charges what runs.
    """
    graph = graph.used()
    total = node_flops(specs[graph.final_model], len(graph.preds(FINAL)), tokens)
    for n in graph.nodes:
        total += node_flops(specs[n.model], len(graph.preds(n.id)), tokens)
    return total


def cap_flops(
    budget_units: int, smallest: ModelSpec, sink: ModelSpec, tokens: TokenProfile
) -> float:
    """The graph FLOPs cap: a complete DAG of ``budget`` smallest-model nodes into a sink.

    Node j of the reference graph receives every earlier node (in-degree j); the sink receives
    all ``budget_units`` of them (PAPER.md §3, "Graph FLOPs cap").
    """
    total = sum(node_flops(smallest, j, tokens) for j in range(budget_units))
    return total + node_flops(sink, budget_units, tokens)


def call_latency_s(spec: ModelSpec, prompt_tokens: int, output_tokens: int) -> float:
    """Latency of one call from the model's throughput profile (prefill, then decode)."""
    return prompt_tokens / spec.prefill_tok_s + output_tokens / spec.decode_tok_s


def critical_path_s(graph: CollabGraph, node_latency_s: Mapping[str, float]) -> float:
    """Wall time of a graph whose nodes run as soon as their inputs are ready.

    Only nodes that run count (unused ones need no entry in ``node_latency_s``).
    """
    finish: dict[str, float] = {}
    for layer in graph.used().layers():
        for i in layer:
            start = max((finish[p] for p in graph.preds(i)), default=0.0)
            finish[i] = start + node_latency_s[i]
    return finish[FINAL]


def graph_latency_s(
    graph: CollabGraph, specs: Mapping[str, ModelSpec], tokens: TokenProfile
) -> float:
    """Estimated latency of a graph from the task averages and throughput profiles."""
    graph = graph.used()
    lat = {}
    for i in [*graph.node_ids, FINAL]:
        spec = specs[graph.node(i).model]
        lat[i] = call_latency_s(
            spec, tokens.prompt_tokens(len(graph.preds(i))), tokens.output_tokens
        )
    return critical_path_s(graph, lat)
