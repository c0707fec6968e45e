#!/usr/bin/env bash
# Throughput, replay and memory of the vllm backend (benchmarks/gpu_throughput.py says what each
# figure is). Prints one line per figure:
#   executor/offline        executor tok/s against vLLM's offline generate on the same prompts
#   executor/node-by-node   the same executor sending one call at a time (and vLLM's own
#                           ceiling: offline/node-by-node)
#   executor/layered        dataflow against one generate per model per layer (streaming code)
#   prefix caching on/off   engines restarted without prefix caching
#   original/replay         a whole search against its replay from the call cache, with the
#                           engine starts and torch/vLLM/lm-eval imports of the replay
#   peak RSS                this process with every pool engine, and the search processes
#
#   GPU machine:  pip install -e ".[gpu]"; HF_HUB_OFFLINE=0 (weights from the Hub)
#       bash benchmarks/gpu_throughput.sh llama3 mmlu
#   CPU machine:  pip install -e ".[cpu]" && python -m suite.models prepare tiny_cpu
#       bash benchmarks/gpu_throughput.sh tiny_cpu mmlu   # 16 graphs x 3 questions: ~10 min, 2 cores
#
#   Engines in processes of their own (vLLM's default on GPU; in-process is the CPU default):
#       bash benchmarks/gpu_throughput.sh tiny_cpu mmlu --set backend.engine_process=true
#
# Extra arguments go to the Python script (--part ratios|replay, --graphs, --docs,
# --node-fraction, --set KEY=VALUE for every run). PYTHON picks the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_DATASETS_OFFLINE=1
pool=${1:-llama3}
task=${2:-mmlu}
shift $(( $# < 2 ? $# : 2 ))
uptime
exec "${PYTHON:-python}" benchmarks/gpu_throughput.py "$pool" "$task" "$@"
