"""IMPALA: actor-critic with V-trace (Espeholt et al., 2018, arXiv 1802.01561), an AQL baseline.

Experience. Batches of TF-Agents `Trajectory` unrolls, batch-major [B, T+1, ...] (T =
`unroll_length`), written by `collect_policy`: its `policy_info` is
`PolicyInfo(log_probability=[B, T+1])`, log mu(a_t|x_t) of the action the behaviour policy
took. Frames 0 .. T-1 are the T steps learned from; frame T only supplies x_T for the bootstrap
V(x_T) (its action, reward and discount are not read). An actor's consecutive unrolls overlap by
one frame (sequences of T+1 frames with stride T), so every step is learned from once.

One train step, with pi and V from one `PolicyValueNetwork` pass over the T+1 frames:

    log rho_t = log pi(a_t|x_t) - log mu(a_t|x_t)        gamma_t = gamma * discount_t
    r_t       = reward_scale_factor * reward_t
    v_s, A_s  = vtrace(log rho, gamma, r, V(x_0..x_{T-1}), V(x_T); rho_bar, pg_rho_bar, c_bar)
    L         = mean_{b,s} m_s [ -log pi(a_s|x_s) A_s                    (policy gradient)
                                 + baseline_cost 0.5 (v_s - V(x_s))^2    (baseline)
                                 - entropy_cost H(pi(.|x_s)) ]           (entropy bonus)

(`tf_aql.agents.vtrace` writes out v_s and A_s). v_s and A_s are constants for the gradient.

Episode ends inside an unroll. TF-Agents trajectories hold a boundary frame after every episode
(step_type LAST: the episode's last observation, with the reward and discount of the next
episode's FIRST step). It is no step of either episode: its mask m_s is 0 and its log rho is
-inf (rho = c = 0), so its v_s is V(x_s) and the trace stops there. The frame before it
(MID -> LAST) then bootstraps from V(last observation) with its own discount: 0 after a
termination, gamma after a time-limit truncation.
"""

from typing import NamedTuple, Optional, Tuple

import gin
import numpy as np
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.policies import actor_policy
from tf_agents.policies import greedy_policy
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import trajectory
from tf_agents.typing import types
from tf_agents.utils import eager_utils

from tf_aql.agents import vtrace as vtrace_lib
from tf_aql.agents.aql_agent import clip_by_global_norm
from tf_aql.networks.policy_value_network import PolicyValueNetwork
from tf_aql.policies.log_probability_policy import LogProbabilityActorPolicy


class ImpalaLossInfo(NamedTuple):
  """Extras of the agent's `LossInfo` (scalars, means over the B x T steps of a batch; masked
  steps count in the denominator of the losses, not of the statistics).

  Attributes:
    policy_gradient_loss: mean of -log pi(a|x) A.
    baseline_loss: baseline_cost * mean of 0.5 (v - V(x))^2.
    entropy_loss: -entropy_cost * mean of H(pi(.|x)).
    entropy: mean H(pi(.|x)) of the valid steps.
    mean_value: mean V(x) of the valid steps.
    mean_vtrace_target: mean v of the valid steps.
    mean_clipped_rho: mean min(rho_bar, pi/mu) of the valid steps: 1 on-policy (rho_bar >= 1),
      lower the further the actors' policy lags behind the learner's.
  """
  policy_gradient_loss: tf.Tensor
  baseline_loss: tf.Tensor
  entropy_loss: tf.Tensor
  entropy: tf.Tensor
  mean_value: tf.Tensor
  mean_vtrace_target: tf.Tensor
  mean_clipped_rho: tf.Tensor


@gin.configurable
class ImpalaAgent(tf_agent.TFAgent):
  """V-trace actor-critic on fixed-length unrolls; see the module docstring."""

  def __init__(self,
               time_step_spec: types.TimeStep,
               action_spec: types.BoundedTensorSpec,
               policy_value_network: PolicyValueNetwork,
               optimizer: types.Optimizer,
               unroll_length: int = 20,
               gamma: types.Float = 0.99,
               rho_bar: Optional[types.Float] = 1.0,
               pg_rho_bar: Optional[types.Float] = 1.0,
               c_bar: Optional[types.Float] = 1.0,
               baseline_cost: types.Float = 0.5,
               entropy_cost: types.Float = 0.01,
               reward_scale_factor: types.Float = 1.0,
               gradient_clipping: Optional[types.Float] = 40.0,
               debug_summaries: bool = False,
               summarize_grads_and_vars: bool = False,
               train_step_counter: Optional[tf.Variable] = None,
               name: Optional[str] = None):
    """Creates the agent.

    Args:
      time_step_spec: the environment's `TimeStep` spec.
      action_spec: one bounded action spec (see `tf_aql.action_space`).
      policy_value_network: a `PolicyValueNetwork` for the observation and action specs.
      optimizer: the optimizer of the network.
      unroll_length: T, steps learned from per unroll; experience has T + 1 frames.
      gamma: discount factor.
      rho_bar: truncation of the importance weights in the TD errors (None: none).
      pg_rho_bar: truncation of the importance weights of the advantages (None: none).
      c_bar: truncation of the trace coefficients (None: none).
      baseline_cost: weight of the baseline (value) loss.
      entropy_cost: weight of the entropy bonus.
      reward_scale_factor: multiplies rewards.
      gradient_clipping: clip of the global gradient norm, or None.
      debug_summaries: write extra summaries.
      summarize_grads_and_vars: write gradient and variable summaries.
      train_step_counter: optional step counter variable.
      name: agent name.

    Raises:
      ValueError: for unroll_length < 1, a truncation level <= 0 or a negative cost.
    """
    tf.Module.__init__(self, name=name)
    _check_arguments(unroll_length, rho_bar, pg_rho_bar, c_bar, baseline_cost, entropy_cost)
    self._unroll_length = unroll_length
    policy_value_network.create_variables(time_step_spec.observation)
    self._network = policy_value_network
    self._optimizer = optimizer
    self._gamma = gamma
    self._rho_bar, self._pg_rho_bar, self._c_bar = rho_bar, pg_rho_bar, c_bar
    self._baseline_cost = baseline_cost
    self._entropy_cost = entropy_cost
    self._reward_scale_factor = reward_scale_factor
    self._gradient_clipping = gradient_clipping
    collect_policy = LogProbabilityActorPolicy(time_step_spec, action_spec, policy_value_network)
    policy = greedy_policy.GreedyPolicy(
        actor_policy.ActorPolicy(time_step_spec, action_spec, policy_value_network))
    super().__init__(time_step_spec, action_spec, policy, collect_policy,
                     train_sequence_length=unroll_length + 1,
                     debug_summaries=debug_summaries,
                     summarize_grads_and_vars=summarize_grads_and_vars,
                     train_step_counter=train_step_counter)

  @property
  def policy_value_network(self) -> PolicyValueNetwork:
    return self._network

  @property
  def unroll_length(self) -> int:
    """T, the steps learned from per unroll.

    Having it is how an agent tells the training loop that it learns on-policy from unrolls
    (`tf_aql.train_loop.AgentState.unroll_length`): the loop then collects with
    `collect_policy` into a FIFO queue of T + 1-step unrolls written with stride T and runs one
    train step per `batch_size` new unrolls, each used once (`tf_aql.replay`), instead of
    sampling n-step sequences uniformly from replay.
    """
    return self._unroll_length

  def _initialize(self):
    return tf.no_op()

  # --- training -----------------------------------------------------------------------------

  def _train(self, experience, weights=None):
    variables = self._network.trainable_variables
    with tf.GradientTape() as tape:
      loss_info = self._loss(experience, weights, training=True)
    tf.debugging.check_numerics(loss_info.loss, 'IMPALA loss is inf or nan')
    grads_and_vars = list(zip(tape.gradient(loss_info.loss, variables), variables))
    if self._gradient_clipping is not None:
      grads_and_vars = clip_by_global_norm(grads_and_vars, self._gradient_clipping)
    if self._summarize_grads_and_vars:
      eager_utils.add_variables_summaries(grads_and_vars, self.train_step_counter)
      eager_utils.add_gradients_summaries(grads_and_vars, self.train_step_counter)
    self._optimizer.apply_gradients(grads_and_vars)
    self.train_step_counter.assign_add(1)
    return loss_info

  def _loss(self, experience, weights=None, training=False):
    """The IMPALA loss of unrolls [B, T+1, ...]; `weights` [B] (or None) weigh the unrolls."""
    distribution, values = self._network.distribution_and_value(
        experience.observation, experience.step_type, training=training)  # [B, T+1] each
    target_log_probs = distribution.log_prob(experience.action)  # [B, T+1]
    entropies = distribution.entropy()[:, :-1]  # [B, T]
    returns, clipped_rhos, mask = unroll_vtrace(
        experience, target_log_probs, values, gamma=self._gamma,
        reward_scale_factor=self._reward_scale_factor, rho_bar=self._rho_bar,
        pg_rho_bar=self._pg_rho_bar, c_bar=self._c_bar)  # [B, T] each
    loss_weights = mask if weights is None else mask * tf.cast(weights, tf.float32)[:, None]
    values = values[:, :-1]  # [B, T]
    pg_loss, baseline_loss, entropy_loss = impala_losses(
        target_log_probs[:, :-1], entropies, values, returns, loss_weights,
        self._baseline_cost, self._entropy_cost)
    extra = ImpalaLossInfo(
        policy_gradient_loss=pg_loss, baseline_loss=baseline_loss, entropy_loss=entropy_loss,
        entropy=_masked_mean(entropies, mask), mean_value=_masked_mean(values, mask),
        mean_vtrace_target=_masked_mean(returns.vs, mask),
        mean_clipped_rho=_masked_mean(clipped_rhos, mask))
    self._summarize(extra)
    return tf_agent.LossInfo(pg_loss + baseline_loss + entropy_loss, extra)

  def _summarize(self, extra: ImpalaLossInfo) -> None:
    for field, value in extra._asdict().items():
      tf.summary.scalar(name=f'losses/{field}', data=value, step=self.train_step_counter)


def unroll_vtrace(experience: trajectory.Trajectory, target_log_probs: types.Tensor,
                  values: types.Tensor, gamma: types.Float,
                  reward_scale_factor: types.Float = 1.0,
                  rho_bar: Optional[types.Float] = 1.0,
                  pg_rho_bar: Optional[types.Float] = 1.0,
                  c_bar: Optional[types.Float] = 1.0
                  ) -> Tuple[vtrace_lib.VTraceReturns, tf.Tensor, tf.Tensor]:
  """V-trace over the first T frames of unrolls [B, T+1] (the module docstring's boundaries).

  Args:
    experience: the unrolls; `policy_info.log_probability` [B, T+1] is log mu(a|x).
    target_log_probs: [B, T+1] log pi(a_t|x_t) of the learner's policy.
    values: [B, T+1] V(x_t) of the learner's value function.
    gamma: discount factor (multiplies the environment's discounts).
    reward_scale_factor: multiplies rewards.
    rho_bar, pg_rho_bar, c_bar: the truncation levels (None: none).

  Returns:
    (`VTraceReturns` (vs, pg_advantages [B, T]), min(rho_bar, pi/mu) [B, T] (0 at boundary
    frames), mask [B, T] float32: 0 at boundary frames).
  """
  behaviour_log_probs = policy_step.get_log_probability(experience.policy_info)  # [B, T+1]
  log_rhos = tf.stop_gradient(target_log_probs - behaviour_log_probs)[:, :-1]  # [B, T]
  values = tf.stop_gradient(values)  # the targets are constants: no tape through the scan
  boundary = experience.is_boundary()[:, :-1]  # [B, T]
  log_rhos = tf.where(boundary, -np.inf, log_rhos)
  returns = vtrace_lib.vtrace(
      log_rhos=log_rhos,
      discounts=gamma * tf.cast(experience.discount[:, :-1], tf.float32),
      rewards=reward_scale_factor * tf.cast(experience.reward[:, :-1], tf.float32),
      values=values[:, :-1], bootstrap_value=values[:, -1],
      clip_rho_threshold=rho_bar, clip_pg_rho_threshold=pg_rho_bar, clip_c_threshold=c_bar)
  clipped_rhos = vtrace_lib.clip_importance_weights(tf.exp(log_rhos), rho_bar)
  return returns, clipped_rhos, 1.0 - tf.cast(boundary, tf.float32)


def impala_losses(log_probs: types.Tensor, entropies: types.Tensor, values: types.Tensor,
                  returns: vtrace_lib.VTraceReturns, loss_weights: types.Tensor,
                  baseline_cost: types.Float, entropy_cost: types.Float
                  ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """The three terms of the IMPALA loss, means over B x T (the module docstring's L).

  Args:
    log_probs: [B, T] log pi(a_s|x_s).
    entropies: [B, T] H(pi(.|x_s)).
    values: [B, T] V(x_s).
    returns: the V-trace targets v_s and advantages A_s, [B, T] each (constants).
    loss_weights: [B, T] m_s, times the unrolls' weights.
    baseline_cost: weight of the baseline loss.
    entropy_cost: weight of the entropy bonus.

  Returns:
    (policy-gradient loss, baseline loss, entropy loss), scalars.
  """
  pg_loss = tf.reduce_mean(loss_weights * -log_probs * returns.pg_advantages)
  baseline_loss = baseline_cost * tf.reduce_mean(
      loss_weights * 0.5 * tf.square(returns.vs - values))
  entropy_loss = -entropy_cost * tf.reduce_mean(loss_weights * entropies)
  return pg_loss, baseline_loss, entropy_loss


def _masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  """Mean of values [B, T] over the steps where mask [B, T] is 1 (0 if there are none)."""
  return tf.math.divide_no_nan(tf.reduce_sum(tf.stop_gradient(values) * mask),
                               tf.reduce_sum(mask))


def _check_arguments(unroll_length, rho_bar, pg_rho_bar, c_bar, baseline_cost,
                     entropy_cost) -> None:
  if unroll_length < 1:
    raise ValueError(f'ImpalaAgent.unroll_length must be >= 1, got {unroll_length}.')
  for knob, value in (('rho_bar', rho_bar), ('pg_rho_bar', pg_rho_bar), ('c_bar', c_bar)):
    if value is not None and not value > 0:
      raise ValueError(f'ImpalaAgent.{knob} must be > 0 (or None: no truncation), got {value}.')
  for knob, value in (('baseline_cost', baseline_cost), ('entropy_cost', entropy_cost)):
    if value < 0:
      raise ValueError(f'ImpalaAgent.{knob} must be >= 0, got {value}.')
