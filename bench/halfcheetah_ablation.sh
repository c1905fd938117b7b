#!/usr/bin/env bash
# The critic/target ablation on HalfCheetah-v5 discretized (11^6 actions, gamma = 0.99): AQL with
# the shipped defaults, with the earlier defaults ('before'), and with each default changed alone
# (no_cdq, one_hot, paper, copy) or each optional change added alone (layer_norm, obs_norm,
# dedup, offset, offset_sq: the offset with the squared TD loss); UniformQL and QT-Opt beside it,
# also with offset_sq (the pair is shared by every Q-method).
# 50,000 environment steps, seeds 0 and 1.
#
#   nohup bash bench/halfcheetah_ablation.sh > ablation.log 2>&1 &
#
# Two queues, each pinned to one core (bench/queues.sh: resumable; `queue Q [CORE]` runs one
# queue alone, `report` writes the table of the runs finished so far to
# $OUT/halfcheetah_discretized.md, as the end of a whole run does).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/halfcheetah_ablation}
PY=${PY:-.venv/bin/python}
source bench/queues.sh

VARIANTS=(
  # The earlier defaults: one critic, one-hot bins, a target copy every 100 steps, the proposal
  # trained at s with its own search (the paper's form).
  --variant="before=AqlAgent.clipped_double_q = False;tf_aql.CriticNetwork.discrete_action_encoding = 'one_hot';AqlAgent.target_update_tau = 1.0;AqlAgent.target_update_period = 100;AqlAgent.proposal_states = 'current'"
  --variant="no_cdq=AqlAgent.clipped_double_q = False"
  --variant="one_hot=tf_aql.CriticNetwork.discrete_action_encoding = 'one_hot'"
  --variant="layer_norm=tf_aql.CriticNetwork.layer_norm = True"
  --variant="obs_norm=tf_aql.CriticNetwork.normalize_observations = True"
  --variant="paper=AqlAgent.proposal_states = 'current'"
  --variant="dedup=AmortizedSearch.deduplicate = True"
  --variant="copy=AqlAgent.target_update_tau = 1.0;AqlAgent.target_update_period = 100"
  --variant="offset=AqlAgent.value_offset_rate = 0.01"
  # The pair that measured best on the gamma-0.99 10^5 chain (docs/RESULTS.md).
  --variant="offset_sq=AqlAgent.value_offset_rate = 0.01;AqlAgent.td_errors_loss_fn = @squared_loss"
)
COMMON=(--seeds=0,1 --num_env_steps=50000 --eval_interval=10000
        --gin_bindings='train_eval.initial_collect_steps = 5000'
        --report_steps=10000,20000,30000,40000 "${VARIANTS[@]}")
# Queue 0 holds the rows the comparison needs first (the shipped AQL, the baselines, the lead).
queue_0() {
  learn "$1" halfcheetah_discretized "${COMMON[@]}" \
      --methods=aql,uniform_ql,qt_opt,aql+offset_sq,uniform_ql+offset_sq,qt_opt+offset_sq,aql+before,aql+no_cdq,aql+copy
}
queue_1() {
  learn "$1" halfcheetah_discretized "${COMMON[@]}" \
      --methods=aql+one_hot,aql+layer_norm,aql+obs_norm,aql+paper,aql+dedup,aql+offset
}
report() {  # one table of every row
  REPORT_ONLY=1 learn 0 halfcheetah_discretized "${COMMON[@]}" \
      --methods=aql,aql+before,uniform_ql,qt_opt,aql+offset_sq,uniform_ql+offset_sq,qt_opt+offset_sq,aql+no_cdq,aql+one_hot,aql+layer_norm,aql+obs_norm,aql+paper,aql+dedup,aql+copy,aql+offset
}

run_queues "$@"
