"""Tests for tf_aql.environments.synthetic."""

import itertools

from absl.testing import parameterized
import gin
import gymnasium
from gymnasium.utils import env_checker
import numpy as np
import tensorflow as tf

from tf_aql.environments import load
from tf_aql.environments import synthetic

from random_return import assert_random_return_matches, uniform_rewards


def _all_actions(num_sub_actions: int, num_values: int) -> np.ndarray:
  """Every joint action, int64 [B**D, D]."""
  return np.array(list(itertools.product(range(num_values), repeat=num_sub_actions)), np.int64)


class SubActionChainTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  def test_rewards_by_hand_add(self):
    # B = 3, t = (1, 2, 0): a* = (1, (2 + 1) % 3, (0 + 0) % 3) = (1, 0, 0).
    context = np.array([1, 2, 0])
    actions = np.array([[1, 0, 0],   # All three conditions hold.
                        [1, 2, 0],   # a_2 wrong (target 0); a_3's target (0 + 2) % 3 = 2.
                        [1, 2, 2],   # a_2 wrong, a_3 right given a_2 = 2.
                        [0, 2, 2]])  # a_1 wrong (target 1); a_2 right given a_1 = 0; a_3 right.
    self.assertAllClose(synthetic.chain_rewards(context, actions, 3, rule='add'),
                        [1.0, 1 / 3, 2 / 3, 2 / 3])

  def test_rewards_by_hand_reflect(self):
    # B = 4, B // 2 = 2 (0, 1 are low), t = (1, 2, 3): a*_1 = t_1 = 1; a*_1 = 1 < 2 is low, so
    # a*_2 = t_2 = 2; a*_2 = 2 is not < 2, so a*_3 = 4 - 1 - t_3 = 0. a* = (1, 2, 0).
    context = np.array([1, 2, 3])
    actions = np.array([[1, 2, 0],   # All three conditions hold.
                        [1, 2, 3],   # a_3 wrong (target 0).
                        [3, 1, 3],   # a_1 wrong; a_1 = 3 high: target_2 = 3 - 2 = 1, right;
                                     # a_2 = 1 low: target_3 = t_3 = 3, right.
                        [2, 2, 0],   # a_1 wrong; a_1 = 2 high: target_2 = 1, wrong;
                                     # a_2 = 2 high: target_3 = 0, right.
                        [0, 0, 0]])  # a_1 wrong; target_2 = 2 wrong; target_3 = 3 wrong.
    rewards = synthetic.chain_rewards(context, actions, 4)  # 'reflect' is the default.
    self.assertAllClose(rewards, [1.0, 2 / 3, 2 / 3, 1 / 3, 0.0])
    all_rewards = synthetic.chain_rewards(context, _all_actions(3, 4), 4, rule='reflect')
    self.assertAllEqual(_all_actions(3, 4)[all_rewards == 1.0], [[1, 2, 0]])
    # B = 2: only a_{d-1} = 0 is low. t = (1, 1): a* = (1, 2 - 1 - 1) = (1, 0).
    self.assertAllClose(synthetic.chain_rewards(np.array([1, 1]), np.array([[1, 0], [1, 1]]), 2),
                        [1.0, 0.5])
    # Odd B = 5, B // 2 = 2: a_{d-1} = 1 is low, 2 is high; t_d = 2 is its own reflection.
    self.assertAllEqual(synthetic.chain_targets(np.array([1, 1, 2, 2]), np.array([1, 2, 1, 2]), 5),
                        [1, 3, 2, 2])

  @parameterized.product(rule=('reflect', 'add'), shape=((2, 3), (3, 4), (4, 2)))
  def test_optimal_action_is_the_unique_maximum(self, rule, shape):
    num_sub_actions, num_values = shape
    env = synthetic.SubActionChainEnv(num_sub_actions, num_values, episode_length=10, rule=rule)
    observation, _ = env.reset(seed=1)
    actions = _all_actions(num_sub_actions, num_values)
    for _ in range(5):
      context = observation.reshape([num_sub_actions, num_values]).argmax(axis=-1)  # [D]
      rewards = synthetic.chain_rewards(context, actions, num_values, rule)  # [B**D]
      optimal = env.optimal_action()
      self.assertEqual(optimal.dtype, np.int64)
      self.assertEqual(optimal[0], context[0])  # a*_1 = t_1 under both rules.
      self.assertEqual(env.reward_for(optimal), 1.0)
      self.assertEqual(np.sum(rewards == 1.0), 1)
      self.assertAllEqual(actions[np.argmax(rewards)], optimal)
      observation, reward, *_ = env.step(optimal)
      self.assertEqual(reward, 1.0)

  def test_add_optimal_action_is_cumulative_sum(self):
    env = synthetic.SubActionChainEnv(5, 7, rule='add')
    observation, _ = env.reset(seed=0)
    context = observation.reshape([5, 7]).argmax(axis=-1)  # [D]
    self.assertAllEqual(env.optimal_action(), np.cumsum(context) % 7)

  @parameterized.parameters(('reflect', 6), ('add', 5))
  def test_best_sub_action_depends_on_the_previous_choice(self, rule, num_values):
    env = synthetic.SubActionChainEnv(2, num_values, rule=rule)
    observation, _ = env.reset(seed=2)
    context = observation.reshape([2, num_values]).argmax(axis=-1)  # [2]
    grid = _all_actions(2, num_values)  # [B * B, 2], a_2 varying fastest.
    rewards = np.array([env.reward_for(a) for a in grid]).reshape([num_values, num_values])
    best_second = rewards.argmax(axis=-1)  # [B]: the best a_2 for each chosen a_1.
    previous = np.arange(num_values)  # [B]: every a_1.
    if rule == 'reflect':
      expected = np.where(previous < num_values // 2, context[1], num_values - 1 - context[1])
      num_distinct = 2  # Even B: t_2 != B - 1 - t_2, so low and high a_1 disagree.
    else:
      expected = (context[1] + previous) % num_values
      num_distinct = num_values  # Every a_1 moves the best a_2.
    self.assertAllEqual(best_second, expected)
    self.assertLen(set(best_second.tolist()), num_distinct)

  def test_changing_one_sub_action_moves_the_rest_of_the_chain_add(self):
    num_sub_actions, num_values = 4, 5
    env = synthetic.SubActionChainEnv(num_sub_actions, num_values, rule='add')
    env.reset(seed=2)
    optimal = env.optimal_action()
    changed = optimal.copy()
    changed[0] = (optimal[0] + 1) % num_values  # Only a_1 changes: conditions 1 and 2 fail.
    self.assertAllClose(env.reward_for(changed), 1 - 2 / num_sub_actions)
    shifted = (optimal + 1) % num_values  # Every a_d follows a_1: only condition 1 fails.
    self.assertAllClose(env.reward_for(shifted), 1 - 1 / num_sub_actions)

  def test_changing_one_sub_action_across_halves_reflect(self):
    num_sub_actions, num_values, half = 4, 6, 3
    env = synthetic.SubActionChainEnv(num_sub_actions, num_values)
    env.reset(seed=2)
    optimal = env.optimal_action()
    same_half = optimal.copy()  # a_1 moves within its half: only condition 1 fails.
    same_half[0] = optimal[0] // half * half + (optimal[0] + 1) % half
    self.assertAllClose(env.reward_for(same_half), 1 - 1 / num_sub_actions)
    other_half = optimal.copy()  # a_1 moves to the other half: conditions 1 and 2 fail.
    other_half[0] = num_values - 1 - optimal[0]
    self.assertAllClose(env.reward_for(other_half), 1 - 2 / num_sub_actions)

  @parameterized.parameters(('reflect', 5, 4), ('reflect', 3, 5), ('add', 5, 4), ('add', 3, 10))
  def test_random_actions_average_one_over_num_values(self, rule, num_sub_actions, num_values):
    env = synthetic.SubActionChainEnv(num_sub_actions, num_values, episode_length=10, rule=rule)
    num_steps = 4000
    rewards = uniform_rewards(env, num_steps, seed=3)
    p = 1.0 / num_values
    std_error = np.sqrt(p * (1 - p) / num_sub_actions / num_steps)  # r = Binomial(D, p) / D.
    self.assertAllClose(np.mean(rewards), p, atol=4 * std_error)
    self.assertAllClose(env.random_return(), 10 * p)
    self.assertEqual(env.optimal_return(), 10.0)

  @parameterized.product(rule=('reflect', 'add'), case=((4, 3, 5), (3, 4, 20)))
  def test_best_of_uniform_return_matches_monte_carlo(self, rule, case):
    num_sub_actions, num_values, num_samples = case
    rng = np.random.default_rng(0)
    num_contexts = 20000
    contexts = rng.integers(0, num_values, [num_contexts, 1, num_sub_actions])  # [M, 1, D]
    actions = rng.integers(0, num_values, [num_contexts, num_samples, num_sub_actions])
    best = synthetic.chain_rewards(contexts, actions, num_values, rule).max(axis=-1)  # [M]
    expected = synthetic.chain_best_of_uniform_return(num_sub_actions, num_values, num_samples)
    std_error = 10 * best.std() / np.sqrt(num_contexts)
    self.assertAllClose(expected, 10 * best.mean(), atol=4 * std_error)

  def test_best_of_uniform_return_limits(self):
    self.assertAllClose(synthetic.chain_best_of_uniform_return(5, 4, 1), 10 / 4)
    self.assertAllClose(synthetic.chain_best_of_uniform_return(2, 2, 10**6), 10.0)
    # n = B**D samples is far from exhaustive search: the best of them is not always optimal.
    self.assertLess(synthetic.chain_best_of_uniform_return(3, 3, 27), 10.0)

  def test_observation_is_one_hot_context_and_episode_truncates(self):
    env = synthetic.SubActionChainEnv(3, 4, episode_length=3)
    observation, _ = env.reset(seed=0)
    self.assertEqual((observation.shape, observation.dtype), ((12,), np.float32))
    self.assertAllEqual(observation.reshape([3, 4]).sum(axis=-1), [1, 1, 1])
    ends = [env.step(env.optimal_action())[2:4] for _ in range(3)]
    self.assertEqual(ends, [(False, False), (False, False), (False, True)])

  def test_passes_gymnasium_env_checker(self):
    env_checker.check_env(synthetic.SubActionChainEnv(3, 4), skip_render_check=True)

  def test_num_actions_is_exact(self):
    env = load('tf_aql/SubActionChain-v0',
               env_kwargs={'num_sub_actions': 20, 'num_values': 10}).gym_env.unwrapped
    self.assertEqual(env.num_actions(), 10**20)

  @parameterized.parameters(
      {'num_sub_actions': 0}, {'num_values': 1}, {'episode_length': 0}, {'num_values': 2.5})
  def test_bad_arguments_raise(self, **kwargs):
    with self.assertRaisesRegex(ValueError, 'must be an integer >='):
      synthetic.SubActionChainEnv(**kwargs)

  @parameterized.parameters('Reflect', 'mod', None)
  def test_bad_rule_raises(self, rule):
    with self.assertRaisesRegex(ValueError, "rule must be one of 'reflect', 'add'; got"):
      synthetic.SubActionChainEnv(3, 4, rule=rule)
    with self.assertRaisesRegex(ValueError, "rule must be one of 'reflect', 'add'; got"):
      synthetic.chain_rewards(np.array([0, 1]), np.array([0, 1]), 4, rule=rule)

  def test_rule_defaults_to_reflect_and_passes_through_env_kwargs(self):
    self.assertEqual(synthetic.SubActionChainEnv().rule, 'reflect')
    self.assertEqual(load('tf_aql/SubActionChain-v0').gym_env.unwrapped.rule, 'reflect')
    env = load('tf_aql/SubActionChain-v0', env_kwargs={'num_values': 4, 'rule': 'add'})
    self.assertEqual((env.gym_env.unwrapped.rule, env.gym_env.unwrapped.num_values), ('add', 4))


class ContinuousChainTest(tf.test.TestCase, parameterized.TestCase):

  def test_optimal_action_gets_one_and_perturbations_less(self):
    env = synthetic.ContinuousChainEnv(4)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
      optimal = env.optimal_action()
      self.assertEqual((optimal.shape, optimal.dtype), ((4,), np.float32))
      self.assertAllClose(env.reward_for(optimal), 1.0, atol=1e-6)
      perturbed = np.clip(optimal + rng.normal(0, 0.1, 4), -1, 1).astype(np.float32)
      self.assertLess(env.reward_for(perturbed), 1.0 - 1e-3)
      env.step(optimal)

  def test_rewards_by_hand(self):
    # t = (0.5, -0.5), a = (1, 0): targets (0.5, -0.5 + 0.5 * 1) = (0.5, 0); errors (0.5, 0).
    rewards = synthetic.continuous_chain_rewards(np.array([0.5, -0.5]), np.array([1.0, 0.0]))
    self.assertAllClose(rewards, 1 - 0.25 / 2)

  @parameterized.parameters(1, 6)
  def test_random_return_matches_monte_carlo(self, num_sub_actions):
    rng = np.random.default_rng(1)
    num_draws = 20000
    contexts = rng.uniform(-0.5, 0.5, [num_draws, num_sub_actions])
    actions = rng.uniform(-1, 1, [num_draws, num_sub_actions])
    rewards = synthetic.continuous_chain_rewards(contexts, actions)  # [M]
    expected = synthetic.continuous_chain_random_return(num_sub_actions)
    self.assertAllClose(expected, 10 * rewards.mean(),
                        atol=4 * 10 * rewards.std() / np.sqrt(num_draws))

  def test_random_actions_in_env_average_the_documented_value(self):
    assert_random_return_matches(self, synthetic.ContinuousChainEnv(6, episode_length=10))

  def test_best_of_uniform_between_random_and_optimal(self):
    env = synthetic.ContinuousChainEnv(3)
    best = env.best_of_uniform_return(50)
    self.assertBetween(best, env.random_return() + 1.0, env.optimal_return())
    self.assertEqual(best, env.best_of_uniform_return(50))  # Fixed seed.

  def test_passes_gymnasium_env_checker(self):
    env_checker.check_env(synthetic.ContinuousChainEnv(3), skip_render_check=True)


class RegistrationTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      ('tf_aql/SubActionChain-v0', (6,), np.int64),
      ('SubActionChain-v0', (6,), np.int64),
      ('tf_aql.environments.synthetic:SubActionChain-v0', (6,), np.int64),
      ('tf_aql/ContinuousChain-v0', (6,), np.float32),
      ('ContinuousChain-v0', (6,), np.float32),
      ('tf_aql.environments.synthetic:ContinuousChain-v0', (6,), np.float32),
  )
  def test_ids_load(self, env_name, shape, dtype):
    spec = load(env_name, seed=0).action_spec()
    self.assertEqual((spec.shape, spec.dtype), (shape, dtype))

  def test_env_kwargs_and_seeded_episodes(self):
    kwargs = {'num_sub_actions': 2, 'num_values': 3, 'episode_length': 4}
    first, second = (gymnasium.make('tf_aql/SubActionChain-v0', **kwargs) for _ in range(2))
    self.assertEqual(first.action_space, gymnasium.spaces.MultiDiscrete([3, 3]))
    observations = []
    for env in (first, second):
      observation, _ = env.reset(seed=5)
      trajectory = [observation] + [env.step(np.array([0, 0]))[0] for _ in range(4)]
      observations.append(np.stack(trajectory))
    self.assertAllEqual(observations[0], observations[1])


if __name__ == '__main__':
  tf.test.main()
