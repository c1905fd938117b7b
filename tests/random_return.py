"""Shared checks for the synthetic tasks: rewards of uniform actions, the random return."""
import numpy as np


def uniform_rewards(env, num_steps=3000, seed=4):
  """Rewards of `num_steps` uniform actions in `env` (episodes restarted), float64 [num_steps]."""
  env.reset(seed=seed)
  env.action_space.seed(seed)
  rewards = []
  for _ in range(num_steps):
    _, reward, _, truncated, _ = env.step(env.action_space.sample())
    rewards.append(reward)
    if truncated:
      env.reset()
  return np.asarray(rewards, np.float64)


def assert_random_return_matches(test, env, episode_length=10):
  """The mean uniform reward x `episode_length` equals `env.random_return()` within 4
  standard errors."""
  rewards = uniform_rewards(env)
  test.assertAllClose(rewards.mean() * episode_length, env.random_return(),
                      atol=4 * episode_length * rewards.std() / np.sqrt(len(rewards)))
