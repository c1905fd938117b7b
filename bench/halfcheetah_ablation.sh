#!/usr/bin/env bash
# The critic/target ablation on HalfCheetah-v5 discretized (11^6 actions, gamma = 0.99): AQL with
# the shipped defaults, with the earlier defaults ('before'), and with each default changed alone
# (no_offset_sq: neither the value offset nor the squared TD loss, as shipped until 2026-12-07;
# no_offset, huber: one of the pair; no_cdq, one_hot, paper, copy) or each optional change added
# alone (layer_norm, obs_norm, dedup); UniformQL and QT-Opt beside it, also with no_offset_sq (the
# pair is shared by every Q-method). 50,000 environment steps, seeds 0 and 1.
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
  # trained at s with its own search (the paper's form), no value offset, the Huber TD loss.
  --variant="before=AqlAgent.clipped_double_q = False;tf_aql.CriticNetwork.discrete_action_encoding = 'one_hot';AqlAgent.target_update_tau = 1.0;AqlAgent.target_update_period = 100;AqlAgent.proposal_states = 'current';AqlAgent.value_offset_rate = None;AqlAgent.td_errors_loss_fn = @huber_loss"
  --variant="no_offset_sq=AqlAgent.value_offset_rate = None;AqlAgent.td_errors_loss_fn = @huber_loss"
  --variant="no_offset=AqlAgent.value_offset_rate = None"
  --variant="huber=AqlAgent.td_errors_loss_fn = @huber_loss"
  --variant="no_cdq=AqlAgent.clipped_double_q = False"
  --variant="one_hot=tf_aql.CriticNetwork.discrete_action_encoding = 'one_hot'"
  --variant="layer_norm=tf_aql.CriticNetwork.layer_norm = True"
  --variant="obs_norm=tf_aql.CriticNetwork.normalize_observations = True"
  --variant="paper=AqlAgent.proposal_states = 'current'"
  --variant="dedup=AmortizedSearch.deduplicate = True"
  --variant="copy=AqlAgent.target_update_tau = 1.0;AqlAgent.target_update_period = 100"
)
COMMON=(--seeds=0,1 --num_env_steps=50000 --eval_interval=10000
        --gin_bindings='train_eval.initial_collect_steps = 5000'
        --report_steps=10000,20000,30000,40000 "${VARIANTS[@]}")
# Queue 0: the shipped methods, the same without the pair, and the pair taken apart; queue 1: the
# other defaults changed one at a time and the optional changes.
queue_0() {
  learn "$1" halfcheetah_discretized "${COMMON[@]}" \
      --methods=aql,uniform_ql,qt_opt,aql+no_offset_sq,uniform_ql+no_offset_sq,qt_opt+no_offset_sq,aql+before,aql+no_offset,aql+huber
}
queue_1() {
  learn "$1" halfcheetah_discretized "${COMMON[@]}" \
      --methods=aql+no_cdq,aql+copy,aql+one_hot,aql+layer_norm,aql+obs_norm,aql+paper,aql+dedup
}
report() {  # one table of every row
  REPORT_ONLY=1 learn 0 halfcheetah_discretized "${COMMON[@]}" \
      --methods=aql,aql+no_offset_sq,aql+no_offset,aql+huber,aql+before,uniform_ql,uniform_ql+no_offset_sq,qt_opt,qt_opt+no_offset_sq,aql+no_cdq,aql+copy,aql+one_hot,aql+layer_norm,aql+obs_norm,aql+paper,aql+dedup
}

run_queues "$@"
