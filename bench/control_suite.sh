#!/usr/bin/env bash
# The control comparisons at 100,000 environment steps, 3 seeds, every method's shipped gin file:
#   - HalfCheetah-v5 discretized (11^6 actions): AQL, UniformQL, QT-Opt;
#   - Humanoid-v5 discretized (11^17 actions): AQL, UniformQL, QT-Opt;
#   - HalfCheetah-v5 (6 continuous actions): AQL, QT-Opt, DDPG, SAC.
#
#   nohup bash bench/control_suite.sh > control.log 2>&1 &
#
# Two queues, each pinned to one core (bench/queues.sh: `queue Q [CORE]` runs one alone, `report`
# writes the tables of the runs finished so far to $OUT/<suite>.md; resumable). The
# HalfCheetah-discretized runs of seeds 0 and 1 continue the 50,000-step runs of
# bench/halfcheetah_ablation.sh where those finished (`--extend_from`: the same settings, so the
# first 50,000 steps are shared).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/control}
ABLATION=${ABLATION:-bench/out/halfcheetah_ablation}
PY=${PY:-.venv/bin/python}
source bench/queues.sh

COMMON=(--seeds=0,1,2 --num_env_steps=100000 --eval_interval=10000
        --gin_bindings='train_eval.initial_collect_steps = 5000'
        --report_steps=25000,50000,75000)
queue_0() {
  learn "$1" halfcheetah_discretized --methods=aql,uniform_ql,qt_opt "${COMMON[@]}" \
      --extend_from="$ABLATION"
  learn "$1" halfcheetah --methods=aql,qt_opt,ddpg,sac "${COMMON[@]}"
}
queue_1() {
  learn "$1" humanoid_discretized --methods=aql,uniform_ql,qt_opt "${COMMON[@]}"
}

run_queues "$@"
