"""Tests of the AQL agent: losses by hand, training, target updates, export."""
import os
import subprocess
import sys

import gin
import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from tf_agents.policies import policy_saver
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory
from tf_agents.utils import common

from tf_aql import replay as replay_lib
from tf_aql.action_space import ActionSpace
from tf_aql.agents import losses
from tf_aql.agents import aql_agent
from tf_aql.agents.aql_agent import AqlAgent
from tf_aql.networks.critic_network import CriticNetwork
from tf_aql.networks.proposal_network import ProposalNetwork
from tf_aql.search.amortized import AmortizedSearch
from tf_aql.search.exhaustive import ExhaustiveSearch
from tf_aql.search.uniform import UniformSearch

OBS_SPEC = tensor_spec.TensorSpec([3], tf.float32)
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)
ACTION_SPEC = tensor_spec.BoundedTensorSpec([2], tf.int64, [0, 0], [2, 3])
CONTINUOUS_SPEC = tensor_spec.BoundedTensorSpec([2], tf.float32, [-1., -2.], [1., 2.])
BATCH = 3


def make_agent(search_cls=ExhaustiveSearch, use_proposal=False, action_spec=ACTION_SPEC,
               learning_rate=1e-2, critic_kwargs=None, **kwargs):
  critic = CriticNetwork((OBS_SPEC, action_spec), torso_fc_layer_params=(16,),
                         head_fc_layer_params=(16, 16), **(critic_kwargs or {}))
  proposal = (ProposalNetwork(action_spec, critic.state_embedding_size, hidden_size=16)
              if use_proposal else None)
  kwargs.setdefault('clipped_double_q', False)  # one critic unless a test asks for two
  agent = AqlAgent(TIME_STEP_SPEC, action_spec, critic, search_cls(ActionSpace(action_spec)),
                   optimizer=tf.keras.optimizers.Adam(learning_rate),
                   proposal_network=proposal, **kwargs)
  agent.initialize()
  return agent


def fixed_batch(agent, seed=0, step_types=None):
  """Trajectories [B, 2, ...] with random observations/actions, rewards 1, discounts 1."""
  experience = tensor_spec.sample_spec_nest(agent.collect_data_spec, outer_dims=[BATCH, 2],
                                            seed=seed)
  step_types = step_types if step_types is not None else [[ts.StepType.MID] * 2] * BATCH
  step_types = tf.constant(step_types, tf.int32)
  return experience._replace(
      observation=tf.random.stateless_normal([BATCH, 2, 3], seed=[seed, 1]),
      step_type=step_types,
      next_step_type=tf.fill([BATCH, 2], ts.StepType.MID),
      reward=tf.constant([[1.0, 0.5], [0.0, 0.0], [-1.0, 2.0]]),
      discount=tf.constant([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]))


class CountingSearch:
  """Wraps a search and counts its calls."""

  def __init__(self, search):
    self._search = search
    self.calls = 0
    self.batch_sizes = []  # the states of each call

  def __getattr__(self, name):
    return getattr(self._search, name)

  def __call__(self, score_fn, batch_size, *args, **kwargs):
    self.calls += 1
    self.batch_sizes.append(int(batch_size))
    return self._search(score_fn, batch_size, *args, **kwargs)


def huber(x):
  x = np.abs(x)
  quadratic = np.minimum(x, 1.0)
  return 0.5 * quadratic ** 2 + (x - quadratic)


class LossFunctionsTest(tf.test.TestCase):

  def test_td_targets_and_critic_loss_by_hand(self):
    targets = losses.td_targets(tf.constant([1.0, 2.0]), tf.constant([1.0, 0.0]),
                                tf.constant([3.0, 5.0]), reward_scale_factor=2.0, gamma=0.5)
    self.assertAllClose(targets, [2.0 + 1.5, 4.0])
    loss = losses.critic_loss(tf.constant([3.0, 1.0]), targets, tf.constant([1.0, 0.0]),
                              common.element_wise_squared_loss)
    self.assertAllClose(loss, (0.5 ** 2) / 2)  # masked element counts in the denominator

  def test_proposal_loss_by_hand(self):
    loss = losses.proposal_loss(tf.constant([-1.0, -3.0]), tf.constant([2.0, 4.0]), 0.5)
    self.assertAllClose(loss, ((1.0 - 1.0) + (3.0 - 2.0)) / 2)

  def test_boundary_mask(self):
    step_types = tf.constant([[0, 1, 1], [1, 2, 0], [2, 0, 1], [1, 1, 2]])
    self.assertAllEqual(losses.boundary_mask(step_types), [1.0, 0.0, 0.0, 1.0])


class AqlAgentTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    tf.random.set_seed(0)

  def test_critic_loss_matches_hand_computation(self):
    agent = make_agent(gamma=0.9)
    experience = fixed_batch(agent, step_types=[[1, 1], [1, 1], [2, 0]])  # last: boundary
    loss_info = agent.loss(experience)
    observation = experience.observation[:, 0]
    next_observation = experience.observation[:, 1]
    q_values, _ = agent.critic_network((observation, experience.action[:, 0]))
    target_critic = agent._target_critic_networks[0]
    all_actions = ActionSpace(ACTION_SPEC).enumerate(0, 12)  # [12, 2]
    next_q = np.stack([
        target_critic((next_observation, tf.cast(tf.tile(a[None], [BATCH, 1]), tf.int64)))[0]
        for a in all_actions], axis=1).max(axis=1)  # exact max over the 12 actions
    reward = experience.reward[:, 0].numpy()
    discount = experience.discount[:, 0].numpy()
    targets = reward + 0.9 * discount * next_q
    mask = np.array([1.0, 1.0, 0.0])
    expected = np.mean(mask * huber(targets - q_values.numpy()))
    self.assertAllClose(loss_info.extra.critic_loss, expected, rtol=1e-5)
    self.assertAllClose(loss_info.extra.mean_td_target, targets.mean(), rtol=1e-5)
    self.assertAllClose(loss_info.extra.mean_q, q_values.numpy().mean(), rtol=1e-5)
    self.assertAllClose(loss_info.extra.mean_next_q, next_q.mean(), rtol=1e-5)
    self.assertAllClose(loss_info.loss, expected, rtol=1e-5)  # no proposal: L = L_Q

  def test_value_offset_follows_the_targets_and_shifts_values_not_argmaxes(self):
    agent = make_agent(gamma=0.9, value_offset_rate=0.5)
    experience = fixed_batch(agent)
    before = agent.loss(experience).extra
    agent._value_offset.assign(3.0)
    shifted = agent.loss(experience).extra
    # Q = f + m at s and at s': the replayed values move by m, the targets by gamma * d * m.
    self.assertAllClose(shifted.mean_q, before.mean_q + 3.0, rtol=1e-5)
    discounts = experience.discount[:, 0].numpy()
    self.assertAllClose(shifted.mean_td_target,
                        before.mean_td_target + 0.9 * 3.0 * discounts.mean(), rtol=1e-5)
    observation = experience.observation[:, 0]
    greedy = agent.policy.action(ts.restart(observation, batch_size=BATCH)).action
    agent._value_offset.assign(-50.0)
    self.assertAllEqual(agent.policy.action(ts.restart(observation, batch_size=BATCH)).action,
                        greedy)
    agent._value_offset.assign(3.0)
    targets = agent.loss(experience).extra.mean_td_target
    agent.train(experience)  # m <- m + 0.5 (mean y - m)
    self.assertAllClose(agent._value_offset, 3.0 + 0.5 * (float(targets) - 3.0), rtol=1e-4)

  def test_td_errors_loss_fn_from_gin(self):
    gin.parse_config('AqlAgent.td_errors_loss_fn = @squared_loss')
    agent = make_agent(gamma=0.0)
    experience = fixed_batch(agent)
    observation = experience.observation[:, 0]
    q_values, _ = agent.critic_network((observation, experience.action[:, 0]))
    errors = experience.reward[:, 0].numpy() - q_values.numpy()
    self.assertAllClose(agent.loss(experience).extra.critic_loss, np.mean(errors ** 2),
                        rtol=1e-5)

  def test_n_step_target_matches_hand_computation(self):
    agent = make_agent(gamma=0.5, n_step_update=2)
    experience = tensor_spec.sample_spec_nest(agent.collect_data_spec, outer_dims=[BATCH, 3],
                                              seed=4)
    experience = experience._replace(
        observation=tf.random.stateless_normal([BATCH, 3, 3], seed=[4, 1]),
        step_type=tf.ones([BATCH, 3], tf.int32),
        reward=tf.constant([[1.0, 2.0, 9.0], [0.5, -1.0, 9.0], [3.0, 1.0, 9.0]]),
        discount=tf.constant([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
    _, _, next_time_steps = agent._as_transition(experience)
    next_q = agent._next_q_values(next_time_steps)[0].numpy()  # exact max at s_2
    reward, discount = experience.reward.numpy(), experience.discount.numpy()
    # y = r_0 + g d_0 r_1 + g^2 d_0 d_1 max_a Q_target(s_2, a)
    expected = (reward[:, 0] + 0.5 * discount[:, 0] * reward[:, 1] +
                0.25 * discount[:, 0] * discount[:, 1] * next_q)
    self.assertAllClose(agent.loss(experience).extra.mean_td_target, expected.mean())

  def test_target_through_the_amortized_search_bootstraps_on_the_proposals_action(self):
    # A proposal that puts all its mass on a_dagger = (2, 1) and no uniform candidates: the
    # amortized argmax at s' is a_dagger whatever the critic says, so by hand
    # y = r + gamma * d * Q_target(s', a_dagger). An exact max would give another value.
    agent = make_agent(lambda space: AmortizedSearch(space, num_proposal_samples=4,
                                                     num_uniform_samples=0),
                       use_proposal=True, gamma=0.9)
    proposal = agent.proposal_network
    proposal.head_kernel.assign(tf.zeros_like(proposal.head_kernel))
    proposal.prefix_head_kernel.assign(tf.zeros_like(proposal.prefix_head_kernel))
    proposal.head_bias.assign(40.0 * tf.one_hot([2, 1], 4))  # [D, V] logits
    experience = fixed_batch(agent)
    next_observation = experience.observation[:, 1]
    target = agent._target_critic_networks[0]
    dagger = tf.constant([[2, 1]] * BATCH, tf.int64)
    next_q = target((next_observation, dagger))[0].numpy()
    expected = (experience.reward[:, 0].numpy() +
                0.9 * experience.discount[:, 0].numpy() * next_q)
    self.assertAllClose(agent.loss(experience).extra.mean_td_target, expected.mean(), rtol=1e-5)
    exact = ExhaustiveSearch(ActionSpace(ACTION_SPEC))(
        lambda c: target.score(target.embed(next_observation), c), BATCH)
    self.assertGreater(float(np.max(exact.best_q_values.numpy() - next_q)), 1e-4)

  def test_n_step_targets_of_sequences_written_by_the_replay_writer(self):
    # One terminated episode s_0 .. s_5 through the real Reverb writer with n = 2: the stored
    # sequences are frames [k, k+1, k+2] for k = 0..3, and the last one ends at the terminal
    # state, whose bootstrap the discount d_4 = 0 removes.
    gamma, n = 0.5, 2
    agent = make_agent(gamma=gamma, n_step_update=n)
    replay = replay_lib.EmbeddedReplay(agent.collect_data_spec, n + 1, capacity=100,
                                       checkpoint_dir=os.path.join(self.get_temp_dir(), 'r'))
    self.addCleanup(replay.close)
    rewards = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 0.0], np.float32)
    discounts = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0], np.float32)  # of the next step
    makers = [trajectory.first] + [trajectory.mid] * 3 + [trajectory.last, trajectory.boundary]
    for k, make in enumerate(makers):
      replay.observer(make(observation=np.array([k, 1.0, -1.0], np.float32),
                           action=np.array([k % 3, k % 4], np.int64), policy_info=(),
                           reward=rewards[k], discount=discounts[k]))
    replay.flush()
    self.assertEqual(replay.num_items, 4)
    experience, _ = next(iter(replay.dataset(batch_size=16)))
    starts = experience.observation[:, 0, 0].numpy().astype(int)  # [B]: k of each sequence
    self.assertTrue(set(starts) <= {0, 1, 2, 3})
    _, _, next_time_steps = agent._as_transition(experience)
    next_q = agent._next_q_values(next_time_steps)[0].numpy()  # exact max at s_{k+2}
    expected = (rewards[starts] + gamma * discounts[starts] * rewards[starts + 1] +
                gamma ** 2 * discounts[starts] * discounts[starts + 1] * next_q)
    self.assertAllClose(agent.loss(experience).extra.mean_td_target, expected.mean(),
                        rtol=1e-5)
    self.assertAllEqual(losses.boundary_mask(experience.step_type), np.ones(16))

  def test_gamma_zero_targets_are_rewards_without_a_next_state_search(self):
    agent = make_agent(AmortizedSearch, use_proposal=True, gamma=0.0, reward_scale_factor=2.0)
    agent._search = CountingSearch(agent.search)
    experience = fixed_batch(agent)
    loss_info = agent.loss(experience)
    self.assertEqual(agent._search.calls, 1)  # the search at s (proposal target) only
    self.assertAllClose(loss_info.extra.mean_td_target,
                        2.0 * experience.reward[:, 0].numpy().mean())

  @parameterized.named_parameters(('no_proposal', False, 'current', 1),
                                  ('proposal', True, 'current', 2),
                                  ('proposal_at_next_states', True, 'next', 1))
  def test_searches_per_loss(self, use_proposal, proposal_states, expected_calls):
    agent = make_agent(AmortizedSearch if use_proposal else UniformSearch,
                       use_proposal=use_proposal, gamma=0.9, proposal_states=proposal_states)
    agent._search = CountingSearch(agent.search)
    agent.loss(fixed_batch(agent))
    # At s' for the target; at s only for a proposal trained at the current states.
    self.assertEqual(agent._search.calls, expected_calls)

  @parameterized.named_parameters(('gamma_zero', 0.0, 'next', [2]),
                                  ('own_search_at_s', 0.9, 'current', [3, 2]),
                                  ('target_search_at_next_states', 0.9, 'next', [3]))
  def test_proposal_search_batch_size(self, gamma, proposal_states, searched_states):
    agent = make_agent(ExhaustiveSearch, use_proposal=True, gamma=gamma,
                       proposal_states=proposal_states, proposal_entropy_weight=0.0,
                       proposal_search_batch_size=2)
    agent._search = CountingSearch(agent.search)
    experience = fixed_batch(agent)
    with_two = agent.loss(experience).extra
    # Searches at s' (gamma > 0) see all 3 states; a search of the proposal's own the first 2.
    self.assertEqual(agent._search.batch_sizes, searched_states)
    agent._proposal_search_batch_size = None  # the same agent, whole batches
    whole = agent.loss(experience).extra
    first_two = agent.loss(tf.nest.map_structure(lambda t: t[:2], experience)).extra
    self.assertAllClose(with_two.critic_loss, whole.critic_loss)  # the critic: all 3 rows
    own_search = proposal_states == 'current' or gamma == 0
    expected = first_two if own_search else whole  # the proposal: its search's states
    self.assertAllClose(with_two.proposal_loss, expected.proposal_loss)
    self.assertNotAllClose(whole.proposal_loss, first_two.proposal_loss)

  @parameterized.named_parameters(('action', 'action'), ('sub_action', 'sub_action'))
  def test_epsilon_modes_replace_whole_actions_or_single_sub_actions(self, epsilon_mode):
    spec = tensor_spec.BoundedTensorSpec([4], tf.int32, 0, 4)  # 625 actions, exact greedy
    agent = make_agent(action_spec=spec, epsilon_greedy=0.5, epsilon_mode=epsilon_mode)
    time_step = ts.restart(tf.random.normal([2000, 3], seed=6), batch_size=2000)
    greedy = agent.policy.action(time_step).action.numpy()
    tf.random.set_seed(7)
    explored = agent.collect_policy.action(time_step).action.numpy()
    changed = np.sum(explored != greedy, axis=1)  # sub-actions changed per state, of 4
    # P(a sub-action changes) = 0.5 * 4/5 in both modes; only the grouping differs.
    self.assertAllClose(np.mean(changed) / 4, 0.4, atol=0.03)
    one_changed = np.mean(changed == 1)
    if epsilon_mode == 'action':
      self.assertLess(one_changed, 0.03)  # 0.5 * 4 * 0.8 * 0.2^3 = 0.013
    else:
      self.assertGreater(one_changed, 0.25)  # 4 * 0.4 * 0.6^3 = 0.35

  def test_proposal_collect_policy_samples_valid_actions(self):
    agent = make_agent(AmortizedSearch, use_proposal=True, collect_mode='proposal')
    export_dir = os.path.join(self.get_temp_dir(), 'collect_proposal')
    policy_saver.PolicySaver(agent.collect_policy).save(export_dir)
    loaded = tf.saved_model.load(export_dir)
    time_step = ts.restart(tf.random.normal([BATCH, 3], seed=5), batch_size=BATCH)
    for policy in (agent.collect_policy, loaded):
      actions = policy.action(time_step).action.numpy()
      self.assertEqual(actions.shape, (BATCH, 2))
      self.assertTrue(np.all((actions >= 0) & (actions <= [2, 3])))

  @parameterized.named_parameters(
      ('discrete', ACTION_SPEC, 'current'), ('continuous', CONTINUOUS_SPEC, 'current'),
      ('discrete_proposal_at_next_states', ACTION_SPEC, 'next'),
      ('continuous_proposal_at_next_states', CONTINUOUS_SPEC, 'next'))
  def test_train_step_lowers_both_losses(self, action_spec, proposal_states):
    agent = make_agent(AmortizedSearch, use_proposal=True, action_spec=action_spec,
                       target_update_period=1000, proposal_states=proposal_states)
    experience = fixed_batch(agent)

    def losses_now():
      tf.random.set_seed(7)  # same candidates each time
      extra = agent.loss(experience).extra
      return float(extra.critic_loss), float(extra.proposal_loss)

    critic_before, proposal_before = losses_now()
    agent.train(experience)
    critic_after, proposal_after = losses_now()
    self.assertLess(critic_after, critic_before)
    self.assertLess(proposal_after, proposal_before)

  def test_loss_info_extras(self):
    agent = make_agent(AmortizedSearch, use_proposal=True)
    extra = agent.train(fixed_batch(agent)).extra
    self.assertBetween(float(extra.best_from_proposal), 0.0, 1.0)
    self.assertGreater(float(extra.proposal_entropy), 0.0)
    self.assertNotEqual(float(extra.proposal_loss), 0.0)

  def test_periodic_target_copy(self):
    agent = make_agent(target_update_tau=1.0, target_update_period=2)
    online = agent.critic_network.variables
    target = agent._target_critic_networks[0].variables
    experience = fixed_batch(agent)
    copies = []
    for _ in range(3):
      agent.train(experience)
      copies.append(all(np.allclose(o, t) for o, t in zip(online, target)))
    # common.Periodically fires on every period-th call: stale, copied, stale.
    self.assertEqual(copies, [False, True, False])

  def test_polyak_target_update(self):
    agent = make_agent(target_update_tau=0.25, target_update_period=1)
    online = agent.critic_network.variables
    target = agent._target_critic_networks[0].variables
    target_before = [t.numpy() for t in target]
    agent.train(fixed_batch(agent))
    for o, t, t0 in zip(online, target, target_before):
      self.assertAllClose(t, 0.25 * o.numpy() + 0.75 * t0, atol=1e-6)

  def test_clipped_double_q_bootstraps_from_min(self):
    agent = make_agent(clipped_double_q=True)
    self.assertLen(agent._critic_networks, 2)
    experience = fixed_batch(agent)
    _, _, next_time_steps = agent._as_transition(experience)
    next_q, _ = agent._next_q_values(next_time_steps)
    best = agent.search(
        lambda c: agent._target_critic_networks[0].score(
            agent._target_critic_networks[0].embed(next_time_steps.observation), c), BATCH)
    values = [t.score(t.embed(next_time_steps.observation), best.best_actions[:, None])[:, 0]
              for t in agent._target_critic_networks]
    self.assertAllClose(next_q, np.minimum(values[0], values[1]))
    self.assertFalse(np.allclose(values[0], values[1]))  # two different critics

  def test_clipped_double_q_defaults_to_on_exactly_when_gamma_is_positive(self):
    self.assertLen(make_agent(clipped_double_q=None, gamma=0.99)._critic_networks, 2)
    self.assertLen(make_agent(clipped_double_q=None, gamma=0.0)._critic_networks, 1)

  def test_gradient_clipping_scales_all_gradients_by_one_global_factor(self):
    variables = [tf.Variable([0.0, 0.0]), tf.Variable([0.0])]
    gradients = [tf.constant([3.0, 0.0]), tf.constant([4.0])]  # global norm 5
    clipped = aql_agent.clip_by_global_norm(list(zip(gradients, variables)), 1.0)
    # Per-variable clipping would give [1, 0] and [1]; the global norm scales both by 1/5.
    self.assertAllClose(clipped[0][0], [0.6, 0.0])
    self.assertAllClose(clipped[1][0], [0.8])
    self.assertIs(clipped[1][1], variables[1])

  def test_train_step_updates_every_critics_observation_statistics(self):
    agent = make_agent(AmortizedSearch, use_proposal=True, clipped_double_q=True,
                       critic_kwargs={'normalize_observations': True})
    experience = fixed_batch(agent)
    experience = experience._replace(observation=experience.observation + 7.0)
    agent.train(experience)
    for critic in agent._critic_networks:
      # pylint: disable=protected-access
      mean, _ = critic._observation_normalizer._get_mean_var_estimates()
      self.assertAllClose(mean[0], tf.reduce_mean(experience.observation[:, 0], axis=0),
                          rtol=1e-4)
    export_dir = os.path.join(self.get_temp_dir(), 'normalized')
    policy_saver.PolicySaver(agent.policy).save(export_dir)
    loaded = tf.saved_model.load(export_dir)
    self.assertLen([v for v in loaded.model_variables if 'avg' in v.name], 1)

  def test_double_q_chooses_with_online_critic(self):
    agent = make_agent(double_q=True)
    agent.train(fixed_batch(agent))  # online and target now differ
    _, _, next_time_steps = agent._as_transition(fixed_batch(agent, seed=1))
    observation = next_time_steps.observation
    critic, target = agent.critic_network, agent._target_critic_networks[0]
    chosen = agent.search(lambda c: critic.score(critic.embed(observation), c), BATCH)
    expected = target.score(target.embed(observation), chosen.best_actions[:, None])[:, 0]
    self.assertAllClose(agent._next_q_values(next_time_steps)[0], expected)

  def test_amortized_search_without_proposal_is_a_clear_error(self):
    with self.assertRaisesRegex(ValueError, 'no proposal_network'):
      make_agent(AmortizedSearch, use_proposal=False)

  def test_proposal_search_batch_size_below_one_is_a_clear_error(self):
    with self.assertRaisesRegex(ValueError, 'proposal_search_batch_size must be >= 1'):
      make_agent(AmortizedSearch, use_proposal=True, proposal_search_batch_size=0)

  @parameterized.named_parameters(('exhaustive', ExhaustiveSearch, False),
                                  ('amortized', AmortizedSearch, True),
                                  ('uniform', UniformSearch, False))
  def test_exported_greedy_policy_acts_like_live_policy(self, search_cls, use_proposal):
    agent = make_agent(search_cls, use_proposal=use_proposal)
    agent.train(fixed_batch(agent))
    export_dir = os.path.join(self.get_temp_dir(), 'greedy_' + self._testMethodName)
    policy_saver.PolicySaver(agent.policy).save(export_dir)
    loaded = tf.saved_model.load(export_dir)
    observation = tf.random.normal([BATCH, 3], seed=3)
    time_step = ts.restart(observation, batch_size=BATCH)
    live = agent.policy.action(time_step).action.numpy()
    reloaded = loaded.action(time_step).action.numpy()
    self.assertEqual(reloaded.shape, (BATCH, 2))
    self.assertTrue(np.all((reloaded >= 0) & (reloaded <= [2, 3])))
    if search_cls is ExhaustiveSearch:  # deterministic search: identical actions
      self.assertAllEqual(live, reloaded)

  def test_exported_policy_runs_without_project_imports(self):
    agent = make_agent(AmortizedSearch, use_proposal=True)
    export_dir = os.path.join(self.get_temp_dir(), 'greedy')
    policy_saver.PolicySaver(agent.policy).save(export_dir)
    script = (
        'import os, sys; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"\n'
        'import collections\n'
        'import tensorflow as tf\n'
        'TimeStep = collections.namedtuple(\n'
        '    "TimeStep", ["step_type", "reward", "discount", "observation"])\n'
        f'p = tf.saved_model.load({export_dir!r})\n'
        'obs = tf.zeros([2, 3])\n'
        'a = p.action(TimeStep(tf.zeros([2], tf.int32), tf.zeros([2]), tf.ones([2]),\n'
        '                      obs)).action\n'
        'assert "tf_aql" not in sys.modules\n'
        'print(a.shape)\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            cwd=self.get_temp_dir(), timeout=120)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn('(2, 2)', result.stdout)


if __name__ == '__main__':
  tf.test.main()
