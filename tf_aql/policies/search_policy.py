"""Policies that act with an action search over a state-action critic.

Greedy acting in AQL (Van de Wiele et al., 2020, arXiv 2001.08116) is the amortized argmax
`a*(s) = argmax_{a in P(s) u U} Q(s, a)`, with P(s) ~ mu(.|s) (N samples) and U uniform
(M samples). `SearchPolicy` emits that argmax for any `ActionSearch`; `ProposalPolicy` samples
one action from the proposal `mu(.|s)` (an exploring collection policy). Both use TF ops only,
so `PolicySaver` exports them and a plain `tf.saved_model.load` runs them. They implement
`_action` only (no `distribution`), so the SavedModel holds no TFP types and loads without
importing TensorFlow Probability.
"""

from typing import Optional, Tuple

import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.policies import tf_policy
from tf_agents.trajectories import policy_step
from tf_agents.typing import types

from tf_aql.networks.critic_network import CriticNetwork
from tf_aql.search.base import ActionSearch, SearchResult


def proposal_and_argmax(search: ActionSearch, critic: CriticNetwork,
                        critic_embedding: tf.Tensor,
                        proposal_network: Optional[tf.Module] = None,
                        proposal_embedding: Optional[tf.Tensor] = None,
                        training: bool = False
                        ) -> Tuple[Optional[tfp.distributions.Distribution], SearchResult]:
  """Runs `search` over `critic`'s values on states already embedded; returns mu(.|s) too.

  Args:
    search: the action search.
    critic: scores candidates with `critic.score(critic_embedding, candidates)`.
    critic_embedding: [B, E], `critic.embed` of the states.
    proposal_network: maps an embedding to `mu(.|s)`.
    proposal_embedding: [B, E], the embedding the proposal reads, with its gradient stopped
      (the shared torso learns from the critic loss only); None: no proposal is built.
    training: Keras training flag of the proposal network.

  Returns:
    (the proposal `mu(.|s)` or None, the `SearchResult`).
  """
  proposal = None
  if proposal_embedding is not None:
    proposal, _ = proposal_network(tf.stop_gradient(proposal_embedding), training=training)
  result = search(lambda candidates: critic.score(critic_embedding, candidates),
                  tf.shape(critic_embedding)[0], proposal=proposal)
  return proposal, result


def search_argmax(search: ActionSearch, critic: CriticNetwork,
                  state_embedding: tf.Tensor,
                  proposal_network: Optional[tf.Module] = None) -> SearchResult:
  """Runs `search` with `critic` on states already embedded by `critic.embed`.

  Args:
    search: the action search.
    critic: scores candidates with `critic.score(state_embedding, candidates)`.
    state_embedding: [B, E].
    proposal_network: maps the (gradient-stopped) embedding to `mu(.|s)`; used only when the
      search needs a proposal.

  Returns:
    The `SearchResult` (best_actions [B, D], best_q_values [B], from_proposal [B]).
  """
  proposal_embedding = state_embedding if search.uses_proposal else None
  return proposal_and_argmax(search, critic, state_embedding, proposal_network,
                             proposal_embedding)[1]


EPSILON_MODES = ('action', 'sub_action')


class SearchPolicy(tf_policy.TFPolicy):
  """The action search's argmax of the critic; with `epsilon` > 0, epsilon-greedy.

  `epsilon_mode='action'`: with probability `epsilon` a state gets a uniformly random action
  instead of the argmax (TF-Agents' `EpsilonGreedyPolicy` needs a `distribution`, which this
  policy does not export). `epsilon_mode='sub_action'`: every sub-action of the argmax is
  replaced by a uniform one independently with probability `epsilon`, so explored actions stay
  near the argmax (about epsilon * D sub-actions change): the critic then sees how changing one
  sub-action at a time changes the return, which a whole random action in a space of 10^10
  rarely shows.
  """

  def __init__(self, time_step_spec: types.TimeStep, action_spec: types.NestedTensorSpec,
               critic_network: CriticNetwork, search: ActionSearch,
               proposal_network: Optional[tf.Module] = None, epsilon: types.Float = 0.0,
               epsilon_mode: str = 'action', name: Optional[str] = None):
    if search.uses_proposal and proposal_network is None:
      raise ValueError(f'{type(search).__name__} needs a proposal network; pass one to the '
                       'policy or choose a search without a proposal.')
    self._critic_network = critic_network
    self._proposal_network = proposal_network
    self._search = search
    if epsilon_mode not in EPSILON_MODES:
      raise ValueError(f'Unknown epsilon_mode {epsilon_mode!r}; use one of {EPSILON_MODES}.')
    self._epsilon = epsilon
    self._epsilon_mode = epsilon_mode
    super().__init__(time_step_spec, action_spec, name=name)

  def _variables(self):
    variables = list(self._critic_network.variables)
    if self._proposal_network is not None:
      variables += list(self._proposal_network.variables)
    return variables

  def _action(self, time_step, policy_state, seed):
    state_embedding = self._critic_network.embed(time_step.observation,
                                                 step_type=time_step.step_type)
    result = search_argmax(self._search, self._critic_network, state_embedding,
                           self._proposal_network)
    actions = result.best_actions  # [B, D]
    if self._epsilon:
      batch_size = tf.shape(actions)[0]
      shape = [batch_size, 1] if self._epsilon_mode == 'action' else tf.shape(actions)
      explore = tf.random.uniform(shape, seed=seed) < self._epsilon  # [B, 1] or [B, D]
      random_actions = self._search.action_space.sample_uniform([batch_size])  # [B, D]
      actions = tf.where(explore, random_actions, actions)
    return policy_step.PolicyStep(self._search.action_space.to_spec(actions), policy_state)


class ProposalPolicy(tf_policy.TFPolicy):
  """Exploring policy: one action sampled from the proposal `mu(.|s)`."""

  def __init__(self, time_step_spec: types.TimeStep, action_spec: types.NestedTensorSpec,
               critic_network: CriticNetwork, proposal_network: tf.Module,
               name: Optional[str] = None):
    self._critic_network = critic_network
    self._proposal_network = proposal_network
    super().__init__(time_step_spec, action_spec, name=name)

  def _variables(self):
    return list(self._critic_network.variables) + list(self._proposal_network.variables)

  def _action(self, time_step, policy_state, seed):
    state_embedding = self._critic_network.embed(time_step.observation,
                                                 step_type=time_step.step_type)
    proposal, _ = self._proposal_network(state_embedding)
    actions = proposal.sample(seed=seed)  # [B, D]
    actions = self._critic_network.action_space.to_spec(actions)
    return policy_step.PolicyStep(actions, policy_state)
