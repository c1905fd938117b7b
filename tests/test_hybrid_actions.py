"""Hybrid actions: discrete and continuous sub-actions in one (nested) action.

ActionSpace round trips, the proposal's log-probability against a hand computation, samples
inside every part's bounds, and every search against a brute-force max over a grid.
"""

from absl.testing import parameterized
import gin
import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec

import os

from tf_agents.policies import policy_saver
from tf_agents.trajectories import time_step as ts

from tf_aql import search
from tf_aql.action_space import ActionSpace, UnsupportedActionSpecError
from tf_aql.agents.aql_agent import AqlAgent
from tf_aql.networks.critic_network import CriticNetwork
from tf_aql.networks.proposal_network import AutoregressiveProposal, ProposalNetwork

# Internal layout (nest order: dict keys sorted): choice [2] (values 1..3, 0..1), force [2]
# in [-1, 1] x [0, 4], tool (values -1..1).
_SPEC = {
    'tool': tensor_spec.BoundedTensorSpec((), tf.int64, -1, 1),
    'force': tensor_spec.BoundedTensorSpec([2], tf.float32, [-1., 0.], [1., 4.]),
    'choice': tensor_spec.BoundedTensorSpec([2], tf.int32, [1, 0], [3, 1]),
}
# Two sub-actions: a discrete one with 3 values, then a continuous one in [-2, 2].
_TINY_SPEC = (tensor_spec.BoundedTensorSpec((), tf.int64, 0, 2),
              tensor_spec.BoundedTensorSpec((), tf.float32, -2., 2.))


def _grid_optimum(score_fn, space: ActionSpace, num_points: int = 401):
  """Brute force on the tiny space: every discrete value x a grid of the continuous one."""
  values = np.arange(3, dtype=np.float32)
  grid = np.linspace(-2., 2., num_points, dtype=np.float32)
  actions = np.stack(np.meshgrid(values, grid, indexing='ij'), -1).reshape([-1, 2])  # [K, 2]
  candidates = tf.broadcast_to(actions, [2, len(actions), 2])
  scores = score_fn(candidates).numpy()  # [B, K]
  best = np.argmax(scores, axis=1)
  return actions[best], scores[np.arange(2), best]


def _tiny_score_fn(candidate_actions):
  """Q(s_b, (v, x)) = bonus_b[v] - (x - center_b[v])^2: the best x depends on the value v."""
  centers = tf.constant([[-1.5, 0.5, 1.2], [0.7, -0.4, 1.9]])  # [B, 3]
  bonuses = tf.constant([[0.0, 0.3, 0.1], [0.2, 0.0, 0.25]])  # [B, 3]
  value = tf.cast(tf.round(candidate_actions[..., 0]), tf.int32)  # [B, K]
  x = candidate_actions[..., 1]
  center = tf.gather(centers, value, batch_dims=1)
  bonus = tf.gather(bonuses, value, batch_dims=1)
  return bonus - tf.square(x - center)


class HybridActionSpaceTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  def test_nested_actions_round_trip(self):
    space = ActionSpace(_SPEC)
    self.assertTrue(space.is_hybrid)
    self.assertFalse(space.is_discrete)
    self.assertEqual(space.num_dims, 5)
    self.assertAllEqual(space.is_discrete_dim, [True, True, False, False, True])
    self.assertAllEqual(space.num_values, [3, 2, 1, 1, 3])
    self.assertAllEqual(space.low, [0, 0, -1, 0, 0])
    self.assertAllEqual(space.high, [2, 1, 1, 4, 2])
    self.assertEqual(space.feature_size, 3 * 3 + 2)
    actions = {'tool': tf.constant([-1, 1], tf.int64),
               'force': tf.constant([[0.5, 3.], [-1., 0.]]),
               'choice': tf.constant([[3, 0], [1, 1]], tf.int32)}
    internal = space.from_spec(actions)
    self.assertAllClose(internal, [[2, 0, 0.5, 3., 0], [0, 1, -1., 0., 2]])
    back = space.to_spec(internal)
    self.assertEqual(back['tool'].dtype, tf.int64)
    self.assertEqual(back['choice'].dtype, tf.int32)
    for key in actions:
      self.assertAllClose(back[key], actions[key])
    discrete, continuous = space.split(internal)
    self.assertAllEqual(discrete, [[2, 0, 0], [0, 1, 2]])
    self.assertAllClose(continuous, [[0.5, 3.], [-1., 0.]])
    self.assertAllClose(space.merge(discrete, continuous), internal)
    self.assertAllClose(space.features(internal)[0],
                        [0, 0, 1, 1, 0, 0, 1, 0, 0, 0.5, 0.5])  # one-hots, then [-1, 1] scale

  def test_tuple_of_discrete_leaves_is_a_discrete_space(self):
    space = ActionSpace((tensor_spec.BoundedTensorSpec((), tf.int64, 2, 4),
                         tensor_spec.BoundedTensorSpec([2], tf.int32, 0, 1)))
    self.assertTrue(space.is_discrete)
    self.assertEqual(space.num_actions, 12)
    internal = space.from_spec((tf.constant([4, 2], tf.int64), tf.constant([[1, 0], [0, 1]])))
    self.assertAllEqual(internal, [[2, 1, 0], [0, 0, 1]])
    back = space.to_spec(internal)
    self.assertAllEqual(back[0], [4, 2])
    self.assertAllEqual(back[1], [[1, 0], [0, 1]])

  def test_uniform_samples_and_clip_stay_in_every_part(self):
    space = ActionSpace(_SPEC)
    samples = space.sample_uniform([500], seed=1).numpy()
    self.assertTrue(np.all(samples >= space.low) and np.all(samples <= space.high))
    discrete = samples[:, space.is_discrete_dim]
    self.assertAllEqual(discrete, np.round(discrete))
    self.assertAllEqual(np.unique(samples[:, 4]), [0, 1, 2])  # every value is drawn
    clipped = space.clip(tf.constant([[2.6, -3., 1.5, 9., 0.4]])).numpy()
    self.assertAllClose(clipped, [[2, 0, 1, 4, 0]])

  def test_exhaustive_search_refuses_a_hybrid_space(self):
    with self.assertRaisesRegex(UnsupportedActionSpecError,
                                'Exhaustive search needs a discrete action space; got .*hybrid'):
      search.ExhaustiveSearch(ActionSpace(_SPEC))


class HybridProposalTest(tf.test.TestCase, parameterized.TestCase):

  def _tiny_proposal(self) -> AutoregressiveProposal:
    """mu on _TINY_SPEC for one state: P = 3 params per step, A = 2."""
    state_params = tf.constant([[[0.2, -0.1, 0.4], [0.3, -0.5, 9.]]])  # [1, D=2, P=3]
    prefix_state = tf.constant([[[0.1, -0.2]]])  # [1, D-1, A]
    action_embedding = tf.constant([[[0.5, 0.1], [-0.3, 0.4], [0.2, 0.2]]])  # [D-1, V, A]
    prefix_head_kernel = tf.constant([[[0.6, -0.2, 0.], [0.1, 0.3, 0.]]])  # [D-1, A, P]
    return AutoregressiveProposal(state_params, prefix_state, action_embedding,
                                  prefix_head_kernel, ActionSpace(_TINY_SPEC))

  def test_log_prob_matches_a_hand_computation(self):
    proposal = self._tiny_proposal()
    value, x = 2, 1.2
    logits = np.array([0.2, -0.1, 0.4])
    log_p_value = logits[value] - np.log(np.sum(np.exp(logits)))
    hidden = np.maximum(np.array([0.1, -0.2]) + np.array([0.2, 0.2]), 0)  # relu(u + G[a_1])
    theta = np.array([0.3, -0.5]) + hidden @ np.array([[0.6, -0.2], [0.1, 0.3]])
    mean, std = theta[0], np.exp(theta[1])
    unit = x / 2.  # [-2, 2] -> [-1, 1]
    pre_tanh = np.arctanh(unit)
    log_normal = -0.5 * ((pre_tanh - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    log_p_x = log_normal - np.log(1 - unit ** 2) - np.log(2.)
    self.assertAllClose(proposal.log_prob(tf.constant([[value, x]])), [log_p_value + log_p_x],
                        atol=1e-5)

  def test_samples_match_their_log_probs_and_the_discrete_frequencies(self):
    proposal = self._tiny_proposal()
    samples, log_probs = proposal.experimental_sample_and_log_prob(20_000, seed=5)
    samples = samples.numpy()[:, 0]  # [n, 2]
    self.assertAllClose(log_probs, proposal.log_prob(samples[:, np.newaxis]), atol=1e-4)
    self.assertTrue(np.all(samples[:, 1] >= -2.) and np.all(samples[:, 1] <= 2.))
    logits = np.array([0.2, -0.1, 0.4])
    expected = np.exp(logits) / np.sum(np.exp(logits))
    frequencies = np.bincount(samples[:, 0].astype(int), minlength=3) / len(samples)
    self.assertAllClose(frequencies, expected, atol=0.02)

  @parameterized.parameters('discrete_first', 'continuous_first', 'spec')
  def test_network_samples_lie_in_every_part_and_log_probs_agree(self, order):
    space = ActionSpace(_SPEC)
    network = ProposalNetwork(_SPEC, state_embedding_size=4, hidden_size=8, prefix_size=4,
                              hybrid_order=order)
    proposal, _ = network(tf.random.normal([3, 4], seed=1))
    samples, log_probs = proposal.experimental_sample_and_log_prob(50, seed=2)  # [50, 3, 5]
    values = samples.numpy()
    self.assertTrue(np.all(values >= space.low) and np.all(values <= space.high))
    discrete = values[..., space.is_discrete_dim]
    self.assertAllEqual(discrete, np.round(discrete))
    self.assertAllClose(log_probs, proposal.log_prob(samples), atol=1e-4)
    greedy = proposal.greedy_action().numpy()
    self.assertTrue(np.all(greedy >= space.low) and np.all(greedy <= space.high))

  @parameterized.parameters('discrete_first', 'continuous_first')
  def test_either_order_lets_the_later_sub_action_depend_on_the_earlier(self, order):
    network = ProposalNetwork(_TINY_SPEC, state_embedding_size=2, hidden_size=4,
                              prefix_size=4, hybrid_order=order)
    network(tf.ones([1, 2]))  # creates the variables
    for variable in (network.prefix_head_kernel, network.action_embedding):
      variable.assign(tf.random.normal(variable.shape, seed=3))
    proposal, _ = network(tf.ones([1, 2]))
    # log mu of the four combinations of two values and two x: without any dependence between
    # the sub-actions the log-probabilities would be additive and the interaction 0.
    actions = tf.constant([[[0., -1.0]], [[2., -1.0]], [[0., 1.5]], [[2., 1.5]]])
    log_probs = proposal.log_prob(actions).numpy()[:, 0]
    interaction = (log_probs[3] - log_probs[2]) - (log_probs[1] - log_probs[0])
    self.assertGreater(abs(interaction), 1e-3)
    factorized = ProposalNetwork(_TINY_SPEC, state_embedding_size=2, hidden_size=4,
                                 autoregressive=False)
    proposal, _ = factorized(tf.ones([1, 2]))
    log_probs = proposal.log_prob(actions).numpy()[:, 0]
    self.assertAllClose((log_probs[3] - log_probs[2]) - (log_probs[1] - log_probs[0]), 0.,
                        atol=1e-5)


class HybridSearchTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    tf.random.set_seed(0)

  @parameterized.parameters('uniform', 'amortized', 'cem')
  def test_search_agrees_with_a_grid_max(self, name):
    space = ActionSpace(_TINY_SPEC)
    best_grid, value_grid = _grid_optimum(_tiny_score_fn, space)
    if name == 'uniform':
      action_search = search.UniformSearch(space, num_uniform_samples=3000)
      proposal = None
    elif name == 'amortized':
      action_search = search.AmortizedSearch(space, num_proposal_samples=2000,
                                             num_uniform_samples=1000)
      network = ProposalNetwork(_TINY_SPEC, state_embedding_size=2, hidden_size=4,
                                prefix_size=4)
      proposal, _ = network(tf.zeros([2, 2]))
    else:
      action_search = search.CemSearch(space, num_iterations=4, num_samples=300,
                                       num_elites=30)
      proposal = None
    result = action_search(_tiny_score_fn, 2, proposal=proposal, seed=7)
    best = result.best_actions.numpy()
    self.assertAllEqual(best[:, 0], best_grid[:, 0])  # the same discrete value
    self.assertAllClose(best[:, 1], best_grid[:, 1], atol=0.05)  # its best x
    self.assertAllClose(result.best_q_values, value_grid, atol=2e-3)


class HybridAgentTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  @parameterized.named_parameters(('amortized', 'amortized'), ('cem', 'cem'))
  def test_train_steps_lower_the_loss_and_the_exported_policy_acts_in_the_nest(self, name):
    observation_spec = tensor_spec.TensorSpec([3], tf.float32)
    critic = CriticNetwork((observation_spec, _SPEC), torso_fc_layer_params=(16,),
                           head_fc_layer_params=(16,))
    space = ActionSpace(_SPEC)
    if name == 'amortized':
      action_search = search.AmortizedSearch(space, num_proposal_samples=8,
                                             num_uniform_samples=8)
      proposal = ProposalNetwork(_SPEC, critic.state_embedding_size, hidden_size=16)
    else:
      action_search = search.CemSearch(space, num_samples=8, num_elites=2)
      proposal = None
    agent = AqlAgent(ts.time_step_spec(observation_spec), _SPEC, critic, action_search,
                     optimizer=tf.keras.optimizers.Adam(1e-2), proposal_network=proposal,
                     gamma=0.0, epsilon_mode='sub_action')
    agent.initialize()
    experience = tensor_spec.sample_spec_nest(agent.collect_data_spec, outer_dims=[4, 2],
                                              seed=1)
    experience = experience._replace(
        observation=tf.random.stateless_normal([4, 2, 3], seed=[1, 2]),
        step_type=tf.fill([4, 2], ts.StepType.MID),
        next_step_type=tf.fill([4, 2], ts.StepType.MID),
        reward=tf.ones([4, 2]), discount=tf.ones([4, 2]))
    losses = [float(agent.train(experience).loss) for _ in range(5)]
    self.assertLess(losses[-1], losses[0])
    time_step = ts.restart(tf.random.normal([4, 3], seed=3), batch_size=4)
    for policy in (agent.policy, agent.collect_policy):
      export_dir = os.path.join(self.get_temp_dir(), f'{name}_{policy.name}')
      policy_saver.PolicySaver(policy).save(export_dir)
      loaded = tf.saved_model.load(export_dir)
      actions = loaded.action(time_step).action
      self.assertEqual(sorted(actions), ['choice', 'force', 'tool'])
      tf.nest.map_structure(
          lambda action, spec: self.assertTrue(
              action.dtype == spec.dtype and action.shape == [4] + spec.shape
              and np.all(action.numpy() >= spec.minimum)
              and np.all(action.numpy() <= spec.maximum)), actions, _SPEC)


if __name__ == '__main__':
  tf.test.main()
