#!/usr/bin/env bash
# The control comparisons at 100,000 environment steps, 3 seeds, every method's shipped gin file:
#   - HalfCheetah-v5 discretized (11^6 actions): AQL, UniformQL, QT-Opt;
#   - Humanoid-v5 discretized (11^17 actions): AQL, UniformQL, QT-Opt;
#   - HalfCheetah-v5 (6 continuous actions): AQL, QT-Opt, DDPG, SAC.
#
#   nohup bash bench/control_suite.sh > control.log 2>&1 &
#
# Two queues, each pinned to one core with `taskset`; every run is bench/learning.py, so the suite
# is resumable (finished runs are skipped, a stopped run resumes from its checkpoint). The
# HalfCheetah-discretized runs of seeds 0 and 1 continue the 50,000-step runs of
# bench/halfcheetah_ablation.sh where those finished (`--extend_from`: the same settings, so the
# first 50,000 steps are shared). `bash bench/control_suite.sh queue 0` (or 1) runs one queue
# alone on its core (`queue 0 1`: queue 0 on core 1); `bash bench/control_suite.sh report` writes
# the tables of the runs finished so far to $OUT/<suite>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/control}
ABLATION=${ABLATION:-bench/out/halfcheetah_ablation}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"

COMMON=(--out_dir="$OUT" --seeds=0,1,2 --num_env_steps=100000 --eval_interval=10000
        --gin_bindings='train_eval.initial_collect_steps = 5000'
        --report_steps=25000,50000,75000)
learn() {  # learn CORE SUITE METHODS [ARGS...]
  local core=$1 suite=$2 methods=$3
  shift 3
  taskset -c "$core" "$PY" bench/learning.py --suite="$suite" --methods="$methods" "${COMMON[@]}" \
      --output_md="$OUT/$suite.md" "$@"
}
queue_0() {
  learn "$1" halfcheetah_discretized aql,uniform_ql,qt_opt --extend_from="$ABLATION"
  learn "$1" halfcheetah aql,qt_opt,ddpg,sac
}
queue_1() {
  learn "$1" humanoid_discretized aql,uniform_ql,qt_opt
}

case "${1:-all}" in
  report)
    for suite in halfcheetah_discretized humanoid_discretized halfcheetah; do
      "$PY" bench/learning.py --suite="$suite" "${COMMON[@]}" --report_only \
          --output_md="$OUT/$suite.md"
    done ;;
  queue)
    "queue_$2" "${3:-$2}" >> "$OUT/queue_$2.log" 2>&1 ;;
  all)
    queue_0 0 >> "$OUT/queue_0.log" 2>&1 &
    queue_1 1 >> "$OUT/queue_1.log" 2>&1 &
    wait ;;
  *)
    echo "usage: bash bench/control_suite.sh [all | queue Q [CORE] | report]" >&2
    exit 2 ;;
esac
