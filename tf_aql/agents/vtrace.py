"""V-trace off-policy value targets (Espeholt et al., 2018, IMPALA, arXiv 1802.01561).

An actor runs a behaviour policy mu; the learner's policy pi has moved on by the time it trains
on the actor's unroll x_0, a_0, r_0, ..., x_T. V-trace corrects the n-step value target for
that lag with truncated importance weights (eq. 1 of the paper, with a per-step discount
gamma_t that is 0 where an episode terminates):

    rho_t = min(rho_bar, pi(a_t|x_t) / mu(a_t|x_t)),   c_t = min(c_bar, pi(a_t|x_t) / mu(a_t|x_t))
    delta_t = rho_t (r_t + gamma_t V(x_{t+1}) - V(x_t))
    v_s = V(x_s) + sum_{t=s}^{T-1} (prod_{i=s}^{t-1} gamma_i c_i) delta_t

computed backwards with the recursion (Remark 1 of the paper)

    v_s - V(x_s) = delta_s + gamma_s c_s (v_{s+1} - V(x_{s+1})),    v_T = V(x_T) (the bootstrap)

The policy gradient uses the advantage (section 4.2)

    A_s = rho_pg_s (r_s + gamma_s v_{s+1} - V(x_s)),   rho_pg_s = min(rho_pg_bar, pi / mu).

rho_bar sets the value function V^{pi_rho_bar} the targets converge to (between V^mu at 0 and
V^pi at infinity); c_bar only the speed of the trace (it cuts the sum where pi and mu differ).
With log_rhos = 0 and thresholds >= 1 (or None) v_s is the on-policy n-step return
r_s + gamma_s r_{s+1} + ... + (prod gamma) V(x_T).

A step with log_rho = -inf (rho = c = 0) adds no TD error and cuts the trace: its v_s is V(x_s)
exactly. The IMPALA agent marks the LAST -> FIRST boundary frames of TF-Agents trajectories so.
"""

from typing import NamedTuple, Optional

import tensorflow as tf
from tf_agents.typing import types


class VTraceReturns(NamedTuple):
  """Outputs of `vtrace`, both without gradient.

  Attributes:
    vs: [B, T] the V-trace targets v_s of the value function.
    pg_advantages: [B, T] the advantages A_s of the policy gradient.
  """
  vs: tf.Tensor
  pg_advantages: tf.Tensor


def vtrace(log_rhos: types.Tensor,
           discounts: types.Tensor,
           rewards: types.Tensor,
           values: types.Tensor,
           bootstrap_value: types.Tensor,
           clip_rho_threshold: Optional[types.Float] = 1.0,
           clip_pg_rho_threshold: Optional[types.Float] = 1.0,
           clip_c_threshold: Optional[types.Float] = 1.0) -> VTraceReturns:
  """V-trace targets and policy-gradient advantages of batch-major unrolls (module docstring).

  Args:
    log_rhos: [B, T] log pi(a_t|x_t) - log mu(a_t|x_t); -inf gives rho = c = 0 (see the
      module docstring).
    discounts: [B, T] gamma_t, the discount from x_t to x_{t+1} (0 where the episode ends).
    rewards: [B, T] r_t, the reward of the step from x_t to x_{t+1}.
    values: [B, T] V(x_t) for t = 0 .. T-1.
    bootstrap_value: [B] V(x_T).
    clip_rho_threshold: rho_bar; None: no clipping.
    clip_pg_rho_threshold: rho_pg_bar of the advantages; None: no clipping.
    clip_c_threshold: c_bar; None: no clipping.

  Returns:
    `VTraceReturns` (vs [B, T], pg_advantages [B, T]), float32, gradients stopped.
  """
  with tf.name_scope('vtrace'):
    log_rhos = tf.convert_to_tensor(log_rhos, tf.float32)
    discounts = tf.convert_to_tensor(discounts, tf.float32)
    rewards = tf.convert_to_tensor(rewards, tf.float32)
    values = tf.convert_to_tensor(values, tf.float32)
    bootstrap_value = tf.convert_to_tensor(bootstrap_value, tf.float32)
    for name, tensor in (('discounts', discounts), ('rewards', rewards), ('values', values)):
      if not tensor.shape.is_compatible_with(log_rhos.shape):
        raise ValueError(f'vtrace: {name} has shape {tensor.shape}, log_rhos {log_rhos.shape}; '
                         'all must be [B, T].')
    rhos = tf.exp(log_rhos)  # [B, T]
    clipped_rhos = clip_importance_weights(rhos, clip_rho_threshold)  # [B, T]
    cs = clip_importance_weights(rhos, clip_c_threshold)  # [B, T]
    next_values = tf.concat([values[:, 1:], bootstrap_value[:, tf.newaxis]], axis=1)  # [B, T]
    deltas = clipped_rhos * (rewards + discounts * next_values - values)  # [B, T]
    decays = discounts * cs  # [B, T], gamma_s c_s
    # Backwards over time: acc_s = delta_s + gamma_s c_s acc_{s+1}, acc_T = 0.
    vs_minus_values = tf.scan(
        lambda acc, step: step[0] + step[1] * acc,
        (tf.transpose(deltas), tf.transpose(decays)),  # time-major [T, B] for the scan
        initializer=tf.zeros_like(bootstrap_value), reverse=True)
    vs = tf.transpose(vs_minus_values) + values  # [B, T]
    next_vs = tf.concat([vs[:, 1:], bootstrap_value[:, tf.newaxis]], axis=1)  # [B, T]
    pg_advantages = clip_importance_weights(rhos, clip_pg_rho_threshold) * (
        rewards + discounts * next_vs - values)
    return VTraceReturns(vs=tf.stop_gradient(vs),
                         pg_advantages=tf.stop_gradient(pg_advantages))


def clip_importance_weights(rhos: types.Tensor,
                            threshold: Optional[types.Float]) -> tf.Tensor:
  """min(threshold, rhos) elementwise, or rhos when threshold is None."""
  return rhos if threshold is None else tf.minimum(tf.cast(threshold, rhos.dtype), rhos)
