"""Tests for tf_aql.environments.hybrid_chain."""

from absl.testing import parameterized
import gymnasium
from gymnasium.utils import env_checker
import numpy as np
import tensorflow as tf

import tf_aql.environments  # pylint: disable=unused-import  # Registers the ids.
from tf_aql.environments import hybrid_chain
from tf_aql.environments import synthetic

from random_return import assert_random_return_matches


def _split_observation(observation: np.ndarray, num_choices: int, num_values: int):
  """(t int [D], w float32 [C]) from an observation [D * B + C]."""
  one_hot = observation[:num_choices * num_values].reshape([num_choices, num_values])
  return one_hot.argmax(axis=-1), observation[num_choices * num_values:]


class HybridChainTest(tf.test.TestCase, parameterized.TestCase):

  def test_rewards_by_hand(self):
    # B = 5, t = (1, 3): choice (1, 3) is the optimal chain (1 is low, so target_2 = t_2 = 3).
    # level(1) = -0.5, level(3) = 0.5; parameters read choice[0], choice[1], choice[0]:
    # tau = (-0.25 + 0.25, 0.25 - 0.25, -0.25 + 0.1) = (0, 0, -0.15).
    context, context_params = np.array([1, 3]), np.array([0.5, -0.5, 0.2])
    self.assertAllClose(
        hybrid_chain.hybrid_chain_param_targets(context_params, np.array([1, 3]), 5),
        [0.0, 0.0, -0.15])
    choices = np.array([[1, 3], [1, 3], [0, 3]])
    params = np.array([[0.0, 0.0, -0.15],   # The optimum: r = 1.
                       [0.0, 0.5, -0.15],   # Errors (0, 0.5, 0): r_params = 1 - (1/6) / 2.
                       [0.0, 0.0, -0.15]])  # choice_1 wrong: r_choice = 1/2; tau moves to
                                            # (-0.25, 0, -0.4), errors (0.25, 0, 0.25).
    rewards = hybrid_chain.hybrid_chain_rewards(context, context_params, choices, params, 5)
    self.assertAllClose(rewards, [1.0, 0.5 + 0.5 * (1 - 1 / 12), 0.25 + 0.5 * (1 - 1 / 12)])

  @parameterized.parameters((3, 5, 2), (7, 10, 4), (1, 2, 3))
  def test_optimal_action_gets_exactly_one_and_returns_episode_length(
      self, num_choices, num_values, num_params):
    env = hybrid_chain.HybridChainEnv(num_choices, num_values, num_params, episode_length=6)
    observation, _ = env.reset(seed=0)
    episode_return, truncated = 0.0, False
    while not truncated:
      context, context_params = _split_observation(observation, num_choices, num_values)
      optimal = env.optimal_action()
      self.assertEqual(optimal['choice'].dtype, np.int64)
      self.assertEqual((optimal['params'].shape, optimal['params'].dtype),
                       ((num_params,), np.float32))
      self.assertTrue(env.action_space.contains(optimal))
      # The choice is the SubActionChain optimum for the observed context.
      self.assertEqual(synthetic.chain_rewards(context, optimal['choice'], num_values), 1.0)
      self.assertEqual(hybrid_chain.hybrid_chain_rewards(
          context, context_params, optimal['choice'], optimal['params'], num_values), 1.0)
      self.assertEqual(env.reward_for(optimal), 1.0)
      observation, reward, terminated, truncated, _ = env.step(optimal)
      self.assertFalse(terminated)
      episode_return += reward
    self.assertEqual(episode_return, 6.0)
    self.assertEqual(env.optimal_return(), 6.0)

  def test_optimum_beats_perturbations(self):
    env = hybrid_chain.HybridChainEnv(3, 5, 2)
    env.reset(seed=1)
    optimal = env.optimal_action()
    rng = np.random.default_rng(0)
    for _ in range(20):
      params = np.clip(optimal['params'] + rng.normal(0, 0.1, 2), -1, 1).astype(np.float32)
      self.assertLess(env.reward_for({'choice': optimal['choice'], 'params': params}), 1.0)
      choice = optimal['choice'].copy()  # One entry changes: the chain optimum is unique.
      entry = rng.integers(3)
      choice[entry] = (choice[entry] + rng.integers(1, 5)) % 5
      self.assertLess(env.reward_for({'choice': choice, 'params': optimal['params']}), 1.0)

  def test_best_params_depend_on_the_discrete_choice(self):
    # Parameter 0 reads choice[0]. For each value v of choice[0], a grid search over x_0 finds
    # x_0 = tau_0 = 0.5 * level(v) + 0.5 * w_0: it moves with v, in steps of 0.5 * 2 / (B - 1).
    num_values = 5
    context, context_params = np.array([2, 0]), np.array([0.3, -0.4])
    grid = np.linspace(-1.0, 1.0, 2001)  # [G], step 0.001
    best = []
    for value in range(num_values):
      choices = np.array([value, 1])
      params = np.stack([grid, np.full_like(grid, 0.0)], axis=-1)  # [G, 2]
      rewards = hybrid_chain.hybrid_chain_rewards(context, context_params, choices, params,
                                                  num_values)  # [G]
      best.append(grid[np.argmax(rewards)])
    expected = 0.5 * (2.0 * np.arange(num_values) / (num_values - 1) - 1.0) + 0.5 * 0.3
    self.assertAllClose(best, expected, atol=1e-3)
    self.assertAllClose(np.diff(best), np.full([num_values - 1], 0.25), atol=2e-3)
    # The optimal params for one choice are not optimal for another.
    env = hybrid_chain.HybridChainEnv(2, num_values, 2)
    env.reset(seed=3)
    optimal = env.optimal_action()
    other = optimal['choice'].copy()
    other[0] = (other[0] + 1) % num_values
    params_for_other = hybrid_chain.hybrid_chain_param_targets(
        env._context_params, other, num_values)  # pylint: disable=protected-access
    self.assertGreater(np.abs(params_for_other[0] - optimal['params'][0]), 0.2)
    self.assertLess(env.reward_for({'choice': optimal['choice'], 'params': params_for_other}),
                    env.reward_for(optimal))

  @parameterized.parameters((3, 5, 2), (7, 10, 4))
  def test_random_return_matches_monte_carlo(self, num_choices, num_values, num_params):
    rng = np.random.default_rng(2)
    num_draws = 200000
    contexts = rng.integers(0, num_values, [num_draws, num_choices])  # [M, D]
    context_params = rng.uniform(-1, 1, [num_draws, num_params])  # [M, C]
    choices = rng.integers(0, num_values, [num_draws, num_choices])  # [M, D]
    params = rng.uniform(-1, 1, [num_draws, num_params])  # [M, C]
    rewards = hybrid_chain.hybrid_chain_rewards(contexts, context_params, choices, params,
                                                num_values)  # [M]
    self.assertEqual(rewards.shape, (num_draws,))
    expected = hybrid_chain.hybrid_chain_random_return(num_values)
    self.assertAllClose(expected, 10 * rewards.mean(),
                        atol=4 * 10 * rewards.std() / np.sqrt(num_draws))

  def test_random_return_closed_form(self):
    # E[tau^2] = B / (6 (B - 1)); E[r] = 0.5 / B + 0.5 * (1 - (1 + E[tau^2]) / 4).
    self.assertAllClose(hybrid_chain.hybrid_chain_random_return(5), 431 / 96)
    self.assertAllClose(hybrid_chain.hybrid_chain_random_return(10), 217 / 54)
    self.assertAllClose(hybrid_chain.hybrid_chain_random_return(10, episode_length=1), 217 / 540)
    self.assertAllClose(hybrid_chain.HybridChainEnv(2, 5, 3).random_return(), 431 / 96)

  def test_random_actions_in_env_average_the_documented_value(self):
    assert_random_return_matches(self, hybrid_chain.HybridChainEnv(3, 5, 2, episode_length=10))

  def test_num_choices_is_exact(self):
    self.assertEqual(hybrid_chain.hybrid_chain_num_choices(20, 10), 10**20)
    self.assertIsInstance(hybrid_chain.hybrid_chain_num_choices(20, 10), int)
    self.assertEqual(hybrid_chain.HybridChainEnv(3, 5, 2).num_discrete_choices(), 125)

  def test_observation_and_episode_truncates(self):
    env = hybrid_chain.HybridChainEnv(3, 4, 2, episode_length=3)
    observation, _ = env.reset(seed=0)
    self.assertEqual((observation.shape, observation.dtype), ((14,), np.float32))
    self.assertTrue(env.observation_space.contains(observation))
    self.assertAllEqual(observation[:12].reshape([3, 4]).sum(axis=-1), [1, 1, 1])
    ends = [env.step(env.optimal_action())[2:4] for _ in range(3)]
    self.assertEqual(ends, [(False, False), (False, False), (False, True)])

  def test_same_seed_same_observations(self):
    first, second, third = (hybrid_chain.HybridChainEnv(3, 5, 2) for _ in range(3))
    trajectories = []
    for env, seed in ((first, 7), (second, 7), (third, 8)):
      observation, _ = env.reset(seed=seed)
      action = {'choice': np.zeros([3], np.int64), 'params': np.zeros([2], np.float32)}
      trajectory = [observation] + [env.step(action)[0] for _ in range(5)]
      trajectories.append(np.stack(trajectory))
    self.assertAllEqual(trajectories[0], trajectories[1])
    self.assertNotAllClose(trajectories[0], trajectories[2])

  def test_passes_gymnasium_env_checker(self):
    env_checker.check_env(hybrid_chain.HybridChainEnv(3, 4, 2), skip_render_check=True)

  @parameterized.parameters(
      {'num_choices': 0}, {'num_values': 1}, {'num_params': 0}, {'episode_length': 0},
      {'num_values': 2.5}, {'num_params': True})
  def test_bad_arguments_raise(self, **kwargs):
    (name, value), = kwargs.items()
    with self.assertRaisesRegex(ValueError, f'^{name} must be an integer >= .*; got {value!r}'):
      hybrid_chain.HybridChainEnv(**kwargs)

  @parameterized.parameters(
      {'choice': [0, 1, 5], 'params': [0.0, 0.0]},     # A value outside {0..B-1}.
      {'choice': [0, 1], 'params': [0.0, 0.0]},        # Wrong shape.
      {'choice': [0, 1, 2], 'params': [0.0, 1.5]},     # Outside the box.
      {'choice': [0, 1, 2]})                           # Missing key.
  def test_bad_actions_raise(self, **action):
    env = hybrid_chain.HybridChainEnv(3, 5, 2)
    env.reset(seed=0)
    with self.assertRaisesRegex(ValueError, 'is not in Dict'):
      env.step({key: np.asarray(value) for key, value in action.items()})


class RegistrationTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      'tf_aql/HybridChain-v0', 'HybridChain-v0',
      'tf_aql.environments.hybrid_chain:HybridChain-v0')
  def test_ids_load(self, env_name):
    env = gymnasium.make(env_name)
    self.assertEqual(env.action_space, gymnasium.spaces.Dict({
        'choice': gymnasium.spaces.MultiDiscrete([5, 5, 5]),
        'params': gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)}))
    observation, _ = env.reset(seed=0)
    self.assertEqual(observation.shape, (3 * 5 + 2,))
    self.assertEqual(env.unwrapped.episode_length, 10)

  def test_env_kwargs_pass_through(self):
    env = gymnasium.make('tf_aql/HybridChain-v0', num_choices=2, num_values=3, num_params=4,
                         episode_length=4)
    self.assertEqual(env.action_space['choice'], gymnasium.spaces.MultiDiscrete([3, 3]))
    self.assertEqual(env.action_space['params'].shape, (4,))
    env.reset(seed=0)
    ends = [env.step(env.unwrapped.optimal_action())[2:4] for _ in range(4)]
    self.assertEqual(ends[-1], (False, True))


if __name__ == '__main__':
  tf.test.main()
