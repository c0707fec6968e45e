#!/usr/bin/env bash
# Throughput of the vllm backend through the executor, against vLLM's own offline throughput on
# the very same prompts, and against node-by-node calls; then the wall time of a whole search.
#
#   GPU machine (untested here):  pip install -e ".[gpu]"; HF_HUB_OFFLINE=0 (weights from the Hub)
#       bash benchmarks/gpu_throughput.sh llama3 mmlu        # targets: executor/offline >= 0.8x,
#                                                            # batched/node-by-node >= 4x
#   CPU check of the script itself:  pip install -e ".[cpu]" && python -m suite.models prepare tiny_cpu
#       bash benchmarks/gpu_throughput.sh tiny_cpu mmlu 4 2 nosearch  # pool task graphs questions
#
# Prints one line per figure. The search at the end uses the paper's settings for the task and
# no call cache, so it measures model time.
set -euo pipefail
cd "$(dirname "$0")/.."
pool=${1:-llama3}
task=${2:-mmlu}
n_graphs=${3:-16}
n_docs=${4:-3}
search=${5:-search}   # "nosearch" skips the whole search (the CPU check)
export HF_DATASETS_OFFLINE=1

python - "$pool" "$task" "$n_graphs" "$n_docs" <<'EOF'
import sys, time

import numpy as np

from suite.app import cli

from suite import config

from suite.engine import session
from suite.backends.base import Backend

pool, task, n_graphs, n_docs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
overrides = [f"pool={pool}", f"task={task}", "backend=vllm", "backend.cache.mode=off"]
conf = config.load(cli.compose(overrides))
sess = session.build(conf)
backend = sess.backend
rng = np.random.default_rng(0)
from suite.core.distribution import GraphDistribution  # noqa: E402

dist = GraphDistribution(sess.space)
graphs = [dist.sample(rng).graph for _ in range(n_graphs)]
docs = sess.task.search_docs[:n_docs]
pairs = [(g, d) for g in graphs for d in docs]
for model in sess.space.model_names:  # start every engine before timing anything
    backend.engine(model)


class NodeByNode(Backend):
    """The same backend, one call at a time (what the executor's batching avoids)."""

    name = "node_by_node"

    def __init__(self, inner):
        self.inner = inner

    @classmethod
    def create(cls, options, env):
        raise NotImplementedError

    def generate(self, model, calls):
        return [c for call in calls for c in self.inner.generate(model, [call])]


def timed(execute):
    before, start = backend.generated_tokens, time.perf_counter()
    execute()
    return (backend.generated_tokens - before) / (time.perf_counter() - start)


batched = timed(lambda: sess.executor.run(pairs, "search"))
print(f"executor, layer-batched: {batched:.1f} generated tok/s ({len(pairs)} graph-question pairs)")
recorded = {}
original = backend.generate
def record(model, calls):
    recorded.setdefault(model, []).extend(calls)
    return original(model, calls)
backend.generate = record
sess.executor.run(pairs, "search")
backend.generate = original
from vllm import SamplingParams  # noqa: E402

def offline():
    for model, calls in recorded.items():
        llm = backend.engine(model)
        tok = llm.get_tokenizer()
        prompts = [
            {"prompt_token_ids": tok(tok.apply_chat_template(
                [{"role": r, "content": c} for r, c in call.messages],
                tokenize=False, add_generation_prompt=True), add_special_tokens=False)["input_ids"]}
            for call in calls
        ]
        spec = backend.specs[model]
        params = [SamplingParams(temperature=c.temperature, max_tokens=spec.cap(c.max_tokens, len(p["prompt_token_ids"]))) for c, p in zip(calls, prompts)]
        outs = llm.generate(prompts, params, use_tqdm=False)
        backend.generated_tokens += sum(len(o.outputs[0].token_ids) for o in outs)

raw = timed(offline)
print(f"vLLM offline, every call of a model in one generate: {raw:.1f} tok/s; executor/offline = {batched / raw:.2f}x")
from suite.engine.executor import Executor  # noqa: E402

single = Executor(NodeByNode(backend), sess.prompts, sess.space.specs, sess.meter, task)
one = timed(lambda: single.run(pairs[: max(1, len(pairs) // 4)], "search"))
print(f"node by node: {one:.1f} tok/s; layer-batched/node-by-node = {batched / one:.1f}x")
sess.close()
EOF

[ "$search" = nosearch ] && exit 0
start=$(date +%s)
python -m suite.run backend=vllm "pool=$pool" "task=$task" backend.cache.mode=off \
  results_dir="${TMPDIR:-/tmp}/gpu_throughput" >/dev/null
echo "whole search (paper settings, pool=$pool, task=$task): $(( $(date +%s) - start )) s"
