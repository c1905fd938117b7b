"""An `ActorPolicy` whose sampled actions carry their log-probability in `policy_info`.

Off-policy corrections such as V-trace (IMPALA, Espeholt et al., 2018, arXiv 1802.01561) need
the behaviour policy's log mu(a_t|x_t) of every action an actor took. TF-Agents' `TFPolicy`
emits it with `emit_log_probability=True` (its sampling `_action` stores `d.log_prob(a)` of the
action it drew, before the clip to the spec), but `ActorPolicy` does not forward that flag; this
subclass turns it on.
"""

from typing import Optional

import tensorflow as tf
from tf_agents.networks import network
from tf_agents.policies import actor_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import policy_step
from tf_agents.typing import types

# The key of the behaviour log-probability in `policy_info` (TF-Agents' common field).
LOG_PROBABILITY = policy_step.CommonFields.LOG_PROBABILITY  # 'log_probability'


class LogProbabilityActorPolicy(actor_policy.ActorPolicy):
  """Samples a ~ pi(.|s) from the actor network's distribution; `policy_info` is
  `PolicyInfo(log_probability=log pi(a|s))`, [B] float32 for a single action spec."""

  def __init__(self, time_step_spec: types.TimeStep, action_spec: types.NestedTensorSpec,
               actor_network: network.Network, name: Optional[str] = None):
    super().__init__(time_step_spec, action_spec, actor_network,
                     info_spec=log_probability_info_spec(action_spec), name=name)
    # TFPolicy's flag, set as its constructor would (TFPolicy forbids overriding the public
    # `emit_log_probability`); the info spec above is the one the flag implies.
    self._emit_log_probability = True


def log_probability_info_spec(action_spec: types.NestedTensorSpec) -> types.NestedTensorSpec:
  """`PolicyInfo(log_probability=TensorSpec([], float32))`, one per action spec in the nest: the
  structure `TFPolicy` builds with `emit_log_probability=True`, without its upper bound 0 (a
  log-density of a continuous action can be positive)."""
  spec = tensor_spec.TensorSpec(shape=(), dtype=tf.float32, name=LOG_PROBABILITY)
  return policy_step.set_log_probability((), tf.nest.map_structure(lambda _: spec, action_spec))
