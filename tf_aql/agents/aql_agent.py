"""Amortized Q-Learning agent (Van de Wiele, Warde-Farley, Mnih & Mnih, 2020, arXiv 2001.08116).

One train step updates the critic and the proposal:

    a*(s')   = search(Q_choose, s')          Q_choose = Q_target, or Q_online with double_q
    y        = c r^(n) + gamma^n d^(n) min_i Q_target_i(s', a*(s'))   (i over 1 or 2 critics)
    L_Q      = mean huber(y - Q_i(s, a))                              (summed over the critics)
    a*(s)    = search(Q_online, s)
    L_mu     = mean [ -log mu(a*(s) | s) - lambda H(mu(. | s)) ]

With `proposal_states='next'` the proposal is trained at the next states instead, toward the
argmax a*(s') that the target's search already found (chosen by Q_target, or by Q_online with
double_q): L_mu = mean [ -log mu(a*(s') | s') - lambda H(mu(. | s')) ]. Both are states from the
replay, so the proposal still learns the search's argmax over the visited states, and a learner
step then runs one search instead of two (about half the scoring and sampling). With gamma = 0
there is no search at s' to reuse, and the proposal is trained at s.

Where the proposal needs a search of its own (at s: gamma = 0, or the paper's form),
`proposal_search_batch_size` = b runs it at the first b of the B states only, and the proposal is
trained at those b: b x (N + M) candidates instead of B x (N + M), the bulk of such a step. A
proposal trained on the target's search at s' uses all B states (that search runs anyway).

With `value_offset_rate` = beta the critic's values are f(s, a) + m: the network f plus a scalar
offset m, a running mean of the TD targets (m <- m + beta (mean y - m) after every step, not a
trained weight). With gamma > 0 the targets' common part grows toward r_mean / (1 - gamma) while
the critic learns; m follows it in a few hundred steps, so the network is left to learn how
values differ between states and actions. A constant offset changes no argmax, so the searches
and policies use f alone.

The search is what separates the methods: the amortized search (N proposal + M uniform
samples) is AQL; a uniform search without a proposal is UniformQL; CEM with clipped double-Q is
QT-Opt; exhaustive enumeration is an exact-max DQN. The proposal reads the critic's state
embedding with the gradient stopped: the shared torso is trained by the critic loss only.
"""

from typing import Callable, NamedTuple, Optional, Tuple

import gin
import tensorflow as tf
from tf_agents.agents import data_converter
from tf_agents.agents import tf_agent
from tf_agents.trajectories import time_step as ts
from tf_agents.typing import types
from tf_agents.utils import common
from tf_agents.utils import eager_utils

from tf_aql.agents import losses
from tf_aql.networks.critic_network import CriticNetwork
from tf_aql.policies.search_policy import (ProposalPolicy, SearchPolicy,
                                           proposal_and_argmax)
from tf_aql.search.base import ActionSearch, SearchResult

COLLECT_MODES = ('epsilon_greedy', 'proposal')
PROPOSAL_STATES = ('current', 'next')


class AqlLossInfo(NamedTuple):
  """Extras of the agent's `LossInfo` (all scalars, averaged over the batch).

  Attributes:
    critic_loss: L_Q, summed over the critics.
    proposal_loss: L_mu (0 without a proposal).
    proposal_entropy: the estimate of H(mu(.|s)) (0 without a proposal).
    mean_q: mean of Q(s, a) of the replayed actions (the first critic), what the critic
      predicts for the behaviour's actions.
    mean_next_q: mean of the bootstrap value min_i Q_target_i(s', a*(s')) in the TD targets,
      the value of the search's argmax at the next states (0 with gamma = 0, where no search
      runs for the target). Defined the same for every search, so comparing it across methods
      compares how much each search's argmax overestimates.
    best_from_proposal: fraction of states whose best candidate came from the proposal rather
      than the uniform set; near 0 means the proposal is not helping the search.
    mean_td_target: mean of the TD targets y.
  """
  critic_loss: tf.Tensor
  proposal_loss: tf.Tensor
  proposal_entropy: tf.Tensor
  mean_q: tf.Tensor
  mean_next_q: tf.Tensor
  best_from_proposal: tf.Tensor
  mean_td_target: tf.Tensor


@gin.configurable
class AqlAgent(tf_agent.TFAgent):
  """Q-learning with an action search; AQL when the search uses a learned proposal."""

  def __init__(self,
               time_step_spec: types.TimeStep,
               action_spec: types.BoundedTensorSpec,
               critic_network: CriticNetwork,
               search: ActionSearch,
               optimizer: types.Optimizer,
               proposal_network: Optional[tf.Module] = None,
               proposal_optimizer: Optional[types.Optimizer] = None,
               proposal_entropy_weight: types.Float = 0.01,
               proposal_states: str = 'current',
               proposal_search_batch_size: Optional[int] = None,
               collect_mode: str = 'epsilon_greedy',
               epsilon_greedy: types.Float = 0.1,
               epsilon_mode: str = 'action',
               gamma: types.Float = 0.99,
               n_step_update: int = 1,
               target_update_tau: types.Float = 1.0,
               target_update_period: int = 100,
               double_q: bool = False,
               clipped_double_q: Optional[bool] = None,
               td_errors_loss_fn: Callable = common.element_wise_huber_loss,
               reward_scale_factor: types.Float = 1.0,
               value_offset_rate: Optional[types.Float] = None,
               gradient_clipping: Optional[types.Float] = None,
               debug_summaries: bool = False,
               summarize_grads_and_vars: bool = False,
               train_step_counter: Optional[tf.Variable] = None,
               name: Optional[str] = None):
    """Creates the agent.

    Args:
      time_step_spec: the environment's `TimeStep` spec.
      action_spec: one bounded action spec (see `tf_aql.action_space`).
      critic_network: a `CriticNetwork` for `(observation_spec, action_spec)`.
      search: the `ActionSearch` used to act and to build the targets.
      optimizer: optimizer of the critic(s).
      proposal_network: the proposal `mu(a|s)` on the critic's embedding; required by searches
        that use a proposal, trained whenever given.
      proposal_optimizer: optimizer of the proposal; defaults to `optimizer`.
      proposal_entropy_weight: lambda, the weight of the proposal's entropy bonus.
      proposal_states: where the proposal is trained: 'current' (at s, toward a*(s) of its own
        search with the online critic; the paper's form) or 'next' (at s', toward the a*(s')
        the target's search found; one search per learner step instead of two).
      proposal_search_batch_size: b, the states of a batch at which a search of the proposal's
        own runs (the first b; at s, with gamma = 0 or proposal_states='current'), the proposal
        trained at those; None: all B. Unused where the proposal reuses the search at s'.
      collect_mode: 'epsilon_greedy' (the greedy search with epsilon uniform actions) or
        'proposal' (sample one action from the proposal).
      epsilon_greedy: probability of a uniform random action in the collection policy.
      epsilon_mode: 'action' (epsilon_greedy replaces whole actions) or 'sub_action' (it
        replaces each sub-action independently; see `SearchPolicy`).
      gamma: discount factor.
      n_step_update: n of the n-step return; trajectories have n + 1 frames.
      target_update_tau: Polyak factor of the target update (1.0 copies).
      target_update_period: train steps between target updates.
      double_q: choose a*(s') with the online critic, evaluate it with the target.
      clipped_double_q: train two critics and bootstrap from the min of their targets (Fujimoto
        et al., 2018; QT-Opt); None (the default) turns it on exactly when gamma > 0, where the
        max over many candidates of a noisy critic would otherwise be bootstrapped on.
      td_errors_loss_fn: element-wise loss(targets, predictions) -> [B].
      reward_scale_factor: multiplies rewards.
      value_offset_rate: beta of the value offset m (see the module docstring); None: no offset.
      gradient_clipping: global-norm clip of the gradients, or None.
      debug_summaries: write extra summaries.
      summarize_grads_and_vars: write gradient and variable summaries.
      train_step_counter: optional step counter variable.
      name: agent name.
    """
    tf.Module.__init__(self, name=name)
    self._check_arguments(search, proposal_network, collect_mode, n_step_update,
                          proposal_states, proposal_search_batch_size)
    self._search = search
    self._action_space = search.action_space
    if clipped_double_q is None:
      clipped_double_q = _bootstraps(gamma)
    self._setup_networks(time_step_spec, action_spec, critic_network, proposal_network,
                         clipped_double_q)
    self._optimizer = optimizer
    self._proposal_optimizer = proposal_optimizer or optimizer
    self._proposal_entropy_weight = proposal_entropy_weight
    self._proposal_states = proposal_states
    self._proposal_search_batch_size = proposal_search_batch_size
    self._gamma = gamma
    self._n_step_update = n_step_update
    self._double_q = double_q
    self._td_errors_loss_fn = td_errors_loss_fn
    self._reward_scale_factor = reward_scale_factor
    self._value_offset_rate = value_offset_rate
    self._value_offset = (tf.Variable(0.0, trainable=False, name='value_offset')
                          if value_offset_rate is not None else tf.constant(0.0))
    self._gradient_clipping = gradient_clipping
    self._update_target = self._get_target_updater(target_update_tau, target_update_period)
    policy = SearchPolicy(time_step_spec, action_spec, critic_network, search, proposal_network)
    collect_policy = self._setup_collect_policy(policy, collect_mode, epsilon_greedy,
                                                epsilon_mode)
    super().__init__(time_step_spec, action_spec, policy, collect_policy,
                     train_sequence_length=n_step_update + 1,
                     debug_summaries=debug_summaries,
                     summarize_grads_and_vars=summarize_grads_and_vars,
                     train_step_counter=train_step_counter)
    self._as_transition = data_converter.AsNStepTransition(
        self.data_context, gamma=gamma, n=n_step_update)

  # --- setup --------------------------------------------------------------------------------

  @staticmethod
  def _check_arguments(search, proposal_network, collect_mode, n_step_update,
                       proposal_states, proposal_search_batch_size) -> None:
    if search.uses_proposal and proposal_network is None:
      raise ValueError(f'{type(search).__name__} samples from a proposal, but the agent has no '
                       'proposal_network; bind AqlAgent.proposal_network or use a search '
                       'without a proposal (uniform, CEM, exhaustive).')
    if collect_mode not in COLLECT_MODES:
      raise ValueError(f'Unknown collect_mode {collect_mode!r}; use one of {COLLECT_MODES}.')
    if collect_mode == 'proposal' and proposal_network is None:
      raise ValueError("collect_mode='proposal' needs a proposal_network.")
    if n_step_update < 1:
      raise ValueError(f'n_step_update must be >= 1, got {n_step_update}.')
    if proposal_states not in PROPOSAL_STATES:
      raise ValueError(f'Unknown proposal_states {proposal_states!r}; use one of '
                       f'{PROPOSAL_STATES}.')
    if proposal_search_batch_size is not None and proposal_search_batch_size < 1:
      raise ValueError('proposal_search_batch_size must be >= 1 or None, got '
                       f'{proposal_search_batch_size}.')

  def _setup_networks(self, time_step_spec, action_spec, critic_network, proposal_network,
                      clipped_double_q) -> None:
    """Creates variables, the optional second critic and the target critics."""
    critic_input_spec = (time_step_spec.observation, action_spec)
    self._critic_networks = [critic_network]
    if clipped_double_q:
      self._critic_networks.append(critic_network.copy(name='CriticNetwork2'))
    self._target_critic_networks = []
    for i, critic in enumerate(self._critic_networks):
      critic.create_variables(critic_input_spec)
      self._target_critic_networks.append(common.maybe_copy_target_network_with_checks(
          critic, None, input_spec=critic_input_spec, name=f'TargetCriticNetwork{i + 1}'))
    self._proposal_network = proposal_network
    if proposal_network is not None:
      proposal_network.create_variables()

  def _setup_collect_policy(self, policy, collect_mode, epsilon_greedy, epsilon_mode):
    if collect_mode == 'proposal':
      return ProposalPolicy(policy.time_step_spec, policy.action_spec,
                            self._critic_networks[0], self._proposal_network)
    return SearchPolicy(policy.time_step_spec, policy.action_spec, self._critic_networks[0],
                        self._search, self._proposal_network, epsilon=epsilon_greedy,
                        epsilon_mode=epsilon_mode)

  def _get_target_updater(self, tau: types.Float, period: int) -> Callable:
    """Polyak (tau < 1) or periodic copy (tau = 1) of every critic into its target."""
    def update():
      ops = [common.soft_variables_update(online.variables, target.variables, tau,
                                          tau_non_trainable=1.0)
             for online, target in zip(self._critic_networks, self._target_critic_networks)]
      return tf.group(*ops)
    return common.Periodically(update, period, 'periodic_update_targets')

  def _initialize(self):
    for online, target in zip(self._critic_networks, self._target_critic_networks):
      common.soft_variables_update(online.variables, target.variables, tau=1.0)

  @property
  def critic_network(self) -> CriticNetwork:
    return self._critic_networks[0]

  @property
  def proposal_network(self) -> Optional[tf.Module]:
    return self._proposal_network

  @property
  def search(self) -> ActionSearch:
    return self._search

  # --- training -----------------------------------------------------------------------------
  #
  # A learner step has two phases. The search phase (`_search_phase`) runs the action searches
  # (the target's at s', the proposal's at s): B x (N + M) candidates each, and neither needs a
  # gradient, so `_train` runs it outside the GradientTape, which then records only the loss
  # phase (`_loss_phase`: B rows through the critic, one teacher-forced pass of the proposal).
  # `_loss` runs both phases in one call, the same functions.

  def _train(self, experience, weights):
    critic_variables = [v for c in self._critic_networks for v in c.trainable_variables]
    proposal_variables = (list(self._proposal_network.trainable_variables)
                          if self._proposal_network is not None else [])
    batch = self._transition_batch(experience)
    for critic in self._critic_networks:  # no-ops without observation normalization
      critic.update_observation_statistics(batch.time_steps.observation)
    searched = self._search_phase(batch)  # no gradient: outside the tape
    with tf.GradientTape() as tape:
      loss_info = self._loss_phase(batch, searched, weights, training=True)
    tf.debugging.check_numerics(loss_info.loss, 'AQL loss is inf or nan')
    gradients = tape.gradient(loss_info.loss, critic_variables + proposal_variables)
    grads_and_vars = list(zip(gradients, critic_variables + proposal_variables))
    if self._gradient_clipping is not None:
      grads_and_vars = clip_by_global_norm(grads_and_vars, self._gradient_clipping)
    if self._summarize_grads_and_vars:
      eager_utils.add_variables_summaries(grads_and_vars, self.train_step_counter)
      eager_utils.add_gradients_summaries(grads_and_vars, self.train_step_counter)
    if self._proposal_optimizer is self._optimizer:
      self._optimizer.apply_gradients(grads_and_vars)
    else:
      num_critic = len(critic_variables)
      self._optimizer.apply_gradients(grads_and_vars[:num_critic])
      if proposal_variables:
        self._proposal_optimizer.apply_gradients(grads_and_vars[num_critic:])
    if self._value_offset_rate is not None:
      self._value_offset.assign_add(
          self._value_offset_rate * (loss_info.extra.mean_td_target - self._value_offset))
    self.train_step_counter.assign_add(1)
    self._update_target()
    return loss_info

  def _loss(self, experience, weights=None, training=False):
    """Critic and proposal losses on trajectories [B, n+1, ...]; returns `LossInfo`."""
    batch = self._transition_batch(experience)
    return self._loss_phase(batch, self._search_phase(batch), weights, training)

  def _transition_batch(self, experience) -> '_TransitionBatch':
    """Trajectories [B, n+1, ...] -> the n-step transitions and their boundary mask."""
    time_steps, policy_steps, next_time_steps = self._as_transition(experience)
    return _TransitionBatch(
        time_steps=time_steps,
        actions=self._action_space.from_spec(policy_steps.action),  # [B, D]
        next_time_steps=next_time_steps,
        valid_mask=losses.boundary_mask(experience.step_type))  # [B]

  def _search_phase(self, batch: '_TransitionBatch') -> '_SearchPhase':
    """The searches of one learner step; every output is a constant for the losses."""
    with tf.name_scope('search_phase'):
      next_q_values, next_search = self._next_q_values(batch.next_time_steps)  # [B]
      if self._proposal_network is None:
        return _SearchPhase(next_q_values, None, None, None)
      if self._proposal_states == 'next' and next_search is not None:
        embedding, best = next_search  # the online embedding of s' and the search at s'
      else:
        critic = self._critic_networks[0]
        time_steps = tf.nest.map_structure(self._own_search_rows, batch.time_steps)  # [b, ...]
        embedding = critic.embed(time_steps.observation, time_steps.step_type)
        _, best = self._argmax(critic, embedding, embedding)
      return _SearchPhase(next_q_values, tf.stop_gradient(embedding), best,
                          _stop_gradient_or_none(best.proposal_sample))

  def _own_search_rows(self, tensor: tf.Tensor) -> tf.Tensor:
    """The first `proposal_search_batch_size` rows of a [B, ...] tensor (all B when unset)."""
    if self._proposal_search_batch_size is None:
      return tensor
    return tensor[:self._proposal_search_batch_size]

  def _loss_phase(self, batch: '_TransitionBatch', searched: '_SearchPhase', weights=None,
                  training: bool = False) -> tf_agent.LossInfo:
    """The losses given the searches' results; all the gradient flows through here."""
    offset = self._value_offset  # 0 unless value_offset_rate is set
    targets = losses.td_targets(batch.next_time_steps.reward, batch.next_time_steps.discount,
                                searched.next_q_values + offset, self._reward_scale_factor,
                                self._gamma)  # [B]
    with tf.name_scope('critic_loss'):
      actions = batch.actions[:, tf.newaxis, :]  # [B, 1, D]
      critic_loss, replay_q_values = 0.0, []
      for critic in self._critic_networks:
        embedding = critic.embed(batch.time_steps.observation, batch.time_steps.step_type,
                                 training)
        replay_q_values.append(critic.score(embedding, actions, training)[:, 0] + offset)  # [B]
        critic_loss += losses.critic_loss(replay_q_values[-1], targets, batch.valid_mask,
                                          self._td_errors_loss_fn, weights)

    proposal_loss = proposal_entropy = best_from_proposal = tf.constant(0.0)
    if searched.best is not None:
      with tf.name_scope('proposal_loss'):
        proposal, _ = self._proposal_network(searched.proposal_embedding, training=training)
        proposal_loss, proposal_entropy = self._proposal_objective(
            proposal, searched.best, searched.proposal_sample)
      best_from_proposal = tf.reduce_mean(searched.best.from_proposal)

    extra = AqlLossInfo(
        critic_loss=critic_loss, proposal_loss=proposal_loss,
        proposal_entropy=proposal_entropy,
        mean_q=tf.reduce_mean(tf.stop_gradient(replay_q_values[0])),
        mean_next_q=tf.reduce_mean(searched.next_q_values) + offset,
        best_from_proposal=best_from_proposal, mean_td_target=tf.reduce_mean(targets))
    self._summarize(extra)
    return tf_agent.LossInfo(critic_loss + proposal_loss, extra)

  def _next_q_values(self, next_time_steps) -> Tuple[tf.Tensor, Optional[tuple]]:
    """min_i Q_target_i(s', a*(s')) with a*(s') from the search.

    With `gamma == 0` (a contextual bandit, e.g. the synthetic chain tasks) the bootstrap term
    is multiplied by 0, so the search at s' (half of a learner step's scoring) is skipped.

    Returns:
      (values [B] without gradient, (the online critic's embedding of s' [B, E] (None for
      searches without a proposal), the `SearchResult` at s') or None when no search ran).
    """
    observation, step_type = next_time_steps.observation, next_time_steps.step_type
    if not _bootstraps(self._gamma):
      return tf.zeros_like(next_time_steps.reward), None
    target_embeddings = [t.embed(observation, step_type) for t in self._target_critic_networks]
    chooser, chooser_embedding = self._target_critic_networks[0], target_embeddings[0]
    online_embedding = None
    if self._double_q or self._proposal_network is not None:  # the proposal reads it
      online_embedding = self._critic_networks[0].embed(observation, step_type)
    if self._double_q:
      chooser, chooser_embedding = self._critic_networks[0], online_embedding
    _, best = self._argmax(chooser, chooser_embedding,
                           online_embedding if self._search.uses_proposal else None)
    best_actions = best.best_actions[:, tf.newaxis, :]  # [B, 1, D]
    values = [t.score(e, best_actions)[:, 0]
              for t, e in zip(self._target_critic_networks, target_embeddings)]
    next_q_values = tf.stop_gradient(tf.reduce_min(tf.stack(values, axis=0), axis=0))
    return next_q_values, (online_embedding, best)

  def _argmax(self, critic: CriticNetwork, critic_embedding: tf.Tensor,
              proposal_embedding: Optional[tf.Tensor]):
    """(mu(.|s) or None, the `SearchResult` over `critic`'s values); see
    `search_policy.proposal_and_argmax` (proposal_embedding None: no proposal)."""
    return proposal_and_argmax(self._search, critic, critic_embedding, self._proposal_network,
                               proposal_embedding, training=True)

  def _proposal_objective(self, proposal, best, proposal_sample: Optional[tf.Tensor]):
    """(L_mu [], mean entropy []) of `proposal` toward the search's `best` actions.

    The entropy is estimated along `proposal_sample` [B, D] (a draw of mu the search made);
    with none (a search that drew nothing from mu), along a new draw.
    """
    best_actions = tf.stop_gradient(best.best_actions)  # [B, D]
    if proposal_sample is None:
      proposal_sample = tf.stop_gradient(proposal.sample())  # [B, D]
    log_probs, entropies = proposal.log_prob_and_entropy_along(best_actions,
                                                               proposal_sample)  # [B], [B]
    loss = losses.proposal_loss(log_probs, entropies, self._proposal_entropy_weight)
    return loss, tf.reduce_mean(entropies)

  def _summarize(self, extra: AqlLossInfo) -> None:
    for field, value in extra._asdict().items():
      tf.summary.scalar(name=f'losses/{field}', data=value,
                                  step=self.train_step_counter)


class _TransitionBatch(NamedTuple):
  """n-step transitions of a learner batch: time steps at s and s' [B, ...], actions [B, D]
  (internal), valid_mask [B] (0 where a sample crosses an episode boundary)."""
  time_steps: ts.TimeStep
  actions: tf.Tensor
  next_time_steps: ts.TimeStep
  valid_mask: tf.Tensor


class _SearchPhase(NamedTuple):
  """What the losses need from the searches (constants for the gradient).

  Attributes:
    next_q_values: [B], min_i Q_target_i(s', a*(s')) (zeros with gamma = 0).
    proposal_embedding: [B', E], the embedding the proposal is trained at (s or s'; B' = b
      rows with `proposal_search_batch_size` = b and a search of the proposal's own, else B);
      None without a proposal.
    best: the `SearchResult` [B'] the proposal is trained toward; None without a proposal.
    proposal_sample: [B', D], a draw of mu at the same states, or None.
  """
  next_q_values: tf.Tensor
  proposal_embedding: Optional[tf.Tensor]
  best: Optional[SearchResult]
  proposal_sample: Optional[tf.Tensor]


def clip_by_global_norm(grads_and_vars, clip_norm: types.Float):
  """Scales all gradients by one factor so that their joint (global) L2 norm is at most
  `clip_norm` (`tf.clip_by_global_norm`): [(gradient, variable)] -> the same, clipped."""
  gradients, variables = zip(*grads_and_vars)
  clipped, _ = tf.clip_by_global_norm(list(gradients), clip_norm)
  return list(zip(clipped, variables))


def _bootstraps(gamma: types.Float) -> bool:
  """False when gamma is the number 0 (a contextual bandit: no target uses the next state)."""
  return not (isinstance(gamma, (int, float)) and gamma == 0)


def _stop_gradient_or_none(tensor: Optional[tf.Tensor]) -> Optional[tf.Tensor]:
  return None if tensor is None else tf.stop_gradient(tensor)
