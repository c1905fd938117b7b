"""A policy's actions without its distribution: what the run folder exports.

`PolicySaver` also saves `policy.distribution()` when a policy has one (TF-Agents' `ActorPolicy`,
`GreedyPolicy`: IMPALA's policies). Its outputs are TensorFlow Probability distributions, stored
as composite-tensor type specs that `tf.saved_model.load` can only rebuild after
`import tensorflow_probability` (else: "The type 'tfp.distributions.Categorical_ACTTypeSpec'
has not been registered"). `ActionOnlyPolicy` forwards `action` only, so the SavedModel holds
plain tensors and a bare `tf.saved_model.load` runs it, as it runs the search policies
(`tf_aql.policies.search_policy`). The actions, their `policy_info` (e.g. the collect policy's
log-probabilities) and the variables are the wrapped policy's.
"""

from typing import Optional

from tf_agents.policies import tf_policy
from tf_agents.trajectories import policy_step
from tf_agents.typing import types


class ActionOnlyPolicy(tf_policy.TFPolicy):
  """`policy.action` with the same specs and variables; no `distribution`."""

  def __init__(self, policy: tf_policy.TFPolicy, name: Optional[str] = None):
    super().__init__(policy.time_step_spec, policy.action_spec,
                     policy_state_spec=policy.policy_state_spec, info_spec=policy.info_spec,
                     clip=False,  # the wrapped policy clips (or not) itself
                     automatic_state_reset=False,  # and resets its own state
                     name=name or f'{policy.name}_action_only')
    self._policy = policy

  @property
  def wrapped_policy(self) -> tf_policy.TFPolicy:
    return self._policy

  def _action(self, time_step: types.TimeStep, policy_state: types.NestedTensor,
              seed: Optional[types.Seed] = None) -> policy_step.PolicyStep:
    return self._policy.action(time_step, policy_state, seed=seed)

  def _distribution(self, time_step, policy_state):
    raise NotImplementedError('ActionOnlyPolicy exports actions only; use the wrapped policy '
                              'for its distribution.')
