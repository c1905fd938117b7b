#!/usr/bin/env bash
# The whole learning suite of docs/RESULTS.md in one command, at the budgets used there.
#
#   nohup bash bench/learning_suite.sh > suite.log 2>&1 &     # it takes hours: run it in the background
#   OUT=bench/out/suite2 PY=.venv/bin/python bash bench/learning_suite.sh   # the defaults, spelled out
#
# Two queues run side by side, each pinned to one core with `taskset` (bench/queues.sh: two runs
# on one core would halve both and make the wall times meaningless; `queue Q [CORE]` runs one
# queue alone, `report` writes the tables of the runs finished so far). Measured on the 2-core
# machine of docs/RESULTS.md: about 5 hours before the hybrid-action tasks were added (queue 0:
# 297 min, queue 1: 276 min of run time; section "The whole learning suite"); the hybrid tasks add
# about 1.5 hours to queue 0 and 1 hour to queue 1 (section "Hybrid actions"). Every run is
# bench/learning.py, so the suite is resumable: started again, it skips the runs that finished.
# Logs: $OUT/queue_{0,1}.log; tables: $OUT/*.md; figures: $OUT/<suite>.png.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/suite}
PY=${PY:-.venv/bin/python}
source bench/queues.sh

# The settings of the synthetic chains: batch 32, one train step per env step, Adam 1e-3.
CHAIN=(--gin_bindings='train_eval.batch_size = 32'
       --gin_bindings='make_aql_agent.learning_rate = 1e-3'
       --gin_bindings='make_aql_agent.proposal_learning_rate = 1e-3')

# The hybrid-action tasks: the chain settings, and the factorized proposal beside AQL's.
HYBRID=(--num_env_steps=10000 --eval_interval=2500 --report_steps=2500,5000,7500 "${CHAIN[@]}"
        --variant='factorized=ProposalNetwork.autoregressive = False')

queue_0() {
  learn "$1" halfcheetah_discretized --methods=aql,uniform_ql,qt_opt --seeds=0,1,2 \
      --num_env_steps=30000 --eval_interval=5000 \
      --gin_bindings='train_eval.initial_collect_steps = 5000'
  learn "$1" chain_1e10 --methods=aql,uniform_ql,qt_opt --seeds=0,1,2 \
      --num_env_steps=10000 --eval_interval=2500 "${CHAIN[@]}" --report_steps=2500,5000,7500
  learn "$1" lunar_lander_continuous --methods=aql,qt_opt,ddpg,sac --seeds=0 \
      --num_env_steps=20000 --eval_interval=5000 --gin_bindings='train_eval.num_eval_episodes = 5'
  learn "$1" hybrid_1e7 --methods=aql,aql+factorized --seeds=0,1,2 "${HYBRID[@]}"
  learn "$1" hybrid_small --methods=aql,aql+factorized --seeds=0,1,2 "${HYBRID[@]}"
}

queue_1() {
  learn "$1" chain_1e20 --methods=aql,uniform_ql,qt_opt --seeds=0,1,2 \
      --num_env_steps=20000 --eval_interval=2500 "${CHAIN[@]}" --report_steps=5000,10000,15000
  learn "$1" chain_1e5 --methods=aql,uniform_ql,qt_opt --seeds=0,1,2 \
      --num_env_steps=10000 --eval_interval=2500 "${CHAIN[@]}"
  learn "$1" chain_1e5_gamma099 --methods=aql,uniform_ql,qt_opt --seeds=0,1,2 \
      --num_env_steps=10000 --eval_interval=2500 "${CHAIN[@]}" --report_steps=2500,5000,7500
  learn "$1" pendulum --methods=sac,ddpg,qt_opt,uniform_ql,aql --seeds=0,1,2 \
      --num_env_steps=6000 --eval_interval=2000 --report_steps=2000,4000 \
      --gin_bindings='train_eval.num_eval_episodes = 5' \
      --gin_bindings='train_eval.samples_per_insert = 64.0'
  learn "$1" hybrid_1e7 --methods=uniform_ql,qt_opt --seeds=0,1,2 "${HYBRID[@]}"
  learn "$1" hybrid_small --methods=uniform_ql,qt_opt --seeds=0,1,2 "${HYBRID[@]}"
}

report() {  # the hybrid tasks' methods are split over the queues: one table for all four
  report_queues
  for suite in hybrid_1e7 hybrid_small; do
    REPORT_ONLY=1 learn 0 "$suite" --methods=aql,aql+factorized,uniform_ql,qt_opt --seeds=0,1,2 \
        "${HYBRID[@]}"
  done
}

run_queues "$@"
