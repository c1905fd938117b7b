# Sourced (not run) by the two-queue suites: bench/learning_suite.sh, bench/control_suite.sh and
# bench/halfcheetah_ablation.sh. The sourcing script sets OUT (the output folder) and PY (the
# Python to run) and defines `queue_0 CORE` and `queue_1 CORE` (each a list of `learn` calls), and
# `report` where the tables of the runs finished so far need more than `report_queues` (the
# queues' own `learn` calls with nothing run); `run_queues "$@"` then gives every suite the same command line:
#   bash bench/<suite>.sh                 both queues, queue Q pinned to core Q; logs $OUT/queue_Q.log
#   bash bench/<suite>.sh queue Q [CORE]  one queue alone (on CORE, default Q)
#   bash bench/<suite>.sh report          the tables of the runs finished so far
# Every run is bench/learning.py, so a suite is resumable: started again, it skips the runs that
# finished and a stopped run resumes from its checkpoint. Two runs never share a core (that would
# halve both and make the wall times meaningless).

learn() {  # learn CORE SUITE ARGS...: one bench/learning.py call pinned to CORE; table $OUT/SUITE.md
  local suite=$2 pin=(taskset -c "$1") report=()
  shift 2
  if [[ -n "${REPORT_ONLY:-}" ]]; then pin=(); report=(--report_only); fi
  "${pin[@]}" "$PY" bench/learning.py --suite="$suite" --out_dir="$OUT" \
      --output_md="$OUT/$suite.md" "$@" "${report[@]}"
}

suite_report() {  # the suite's own `report` where it defines one, else report_queues
  if declare -F report > /dev/null; then report; else report_queues; fi
}

report_queues() {  # the tables of both queues' runs finished so far; nothing is run
  REPORT_ONLY=1 queue_0 0
  REPORT_ONLY=1 queue_1 1
}

run_queues() {  # run_queues [all | queue Q [CORE] | report]
  mkdir -p "$OUT"
  case "${1:-all}" in
    report)
      suite_report ;;
    queue)
      "queue_$2" "${3:-$2}" >> "$OUT/queue_$2.log" 2>&1 ;;
    all)
      echo "$(basename "$0") -> $OUT (logs: $OUT/queue_0.log, $OUT/queue_1.log)"
      queue_0 0 >> "$OUT/queue_0.log" 2>&1 &
      queue_1 1 >> "$OUT/queue_1.log" 2>&1 &
      wait
      suite_report
      echo "$(basename "$0") finished: tables $OUT/*.md" ;;
    *)
      echo "usage: bash $0 [all | queue Q [CORE] | report]" >&2
      return 2 ;;
  esac
}
