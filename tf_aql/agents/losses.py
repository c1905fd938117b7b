"""Pure loss functions of Amortized Q-Learning (Van de Wiele et al., 2020, arXiv 2001.08116).

Critic (n-step Q-learning against target networks, section 3 of the paper):

    y        = c * r^(n) + gamma^n * d^(n) * Q_target(s', a*(s'))
    L_Q      = mean_b  w_b * m_b * loss_fn(y_b - Q(s_b, a_b))

where r^(n) is the discounted n-step return, d^(n) the product of the environment's discounts
(0 after a termination, 1 after a time-limit truncation, so truncation still bootstraps),
a*(s') the action search's argmax at s', c the reward scale and m_b masks transitions that
cross an episode boundary.

Proposal (the amortized maximization target, section 3.2):

    L_mu     = mean_b [ -log mu(a*(s_b) | s_b) - lambda * H(mu(. | s_b)) ]

where a*(s) is the search's argmax at s and lambda the entropy weight.
"""

from typing import Callable, Optional

import gin
import tensorflow as tf
from tf_agents.trajectories import time_step as ts
from tf_agents.typing import types
from tf_agents.utils import common

# The element-wise TD losses gin can name: `AqlAgent.td_errors_loss_fn = @huber_loss` (the
# default: quadratic within 1 of the target, linear beyond) or `@squared_loss` (error^2).
gin.external_configurable(common.element_wise_huber_loss, 'huber_loss', module='td_loss')
gin.external_configurable(common.element_wise_squared_loss, 'squared_loss', module='td_loss')


def td_targets(rewards: types.Tensor, discounts: types.Tensor, next_q_values: types.Tensor,
               reward_scale_factor: types.Float = 1.0, gamma: types.Float = 1.0) -> tf.Tensor:
  """Bootstrapped targets `reward_scale * r + gamma * d * Q_next`, all [B] -> [B].

  Args:
    rewards: [B] (n-step discounted) rewards.
    discounts: [B] environment discounts (for n-step: gamma^(n-1) * prod of step discounts,
      as `tf_agents.trajectories.trajectory.to_n_step_transition` returns them).
    next_q_values: [B] Q_target(s', a*(s')).
    reward_scale_factor: multiplies the rewards.
    gamma: one more discount factor applied to `discounts`.
  """
  return tf.stop_gradient(reward_scale_factor * rewards + gamma * discounts * next_q_values)


def critic_loss(q_values: types.Tensor, targets: types.Tensor, valid_mask: types.Tensor,
                loss_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
                weights: Optional[types.Tensor] = None) -> tf.Tensor:
  """Mean over the batch of `weights * valid_mask * loss_fn(targets, q_values)`, [B] -> [].

  Masked elements still count in the mean's denominator (as in TF-Agents' DQN), so the weight
  of each valid transition does not depend on how many boundaries a batch holds.
  """
  element_loss = valid_mask * loss_fn(targets, q_values)  # [B]
  if weights is not None:
    element_loss = element_loss * weights
  return tf.reduce_mean(element_loss)


def proposal_loss(best_action_log_probs: types.Tensor, entropies: types.Tensor,
                  entropy_weight: types.Float) -> tf.Tensor:
  """`mean(-log mu(a*|s) - lambda * H(mu(.|s)))`, [B], [B] -> []."""
  return tf.reduce_mean(-best_action_log_probs - entropy_weight * entropies)


def boundary_mask(step_types: types.Tensor) -> tf.Tensor:
  """1.0 for n-step samples that stay inside one episode, else 0.0.

  Args:
    step_types: [B, n+1] step types of the sampled trajectory frames.

  Returns:
    [B] float32: 0 where any of the first n frames is LAST (the sample would bootstrap across
    an episode boundary, or is the LAST -> FIRST boundary transition itself).
  """
  is_last = tf.equal(step_types[:, :-1], ts.StepType.LAST)  # [B, n]
  return tf.cast(~tf.reduce_any(is_last, axis=1), tf.float32)
