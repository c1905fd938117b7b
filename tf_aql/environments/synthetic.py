"""Synthetic tasks with enormous action spaces whose optimal and random returns are known.

AQL (Van de Wiele et al., 2020, arXiv 2001.08116) targets actions `a = (a_1, ..., a_D)` too many
to enumerate. These tasks make the joint structure matter: the best value of sub-action `d`
depends on the value actually chosen for sub-action `d - 1`, so choosing each sub-action on its
own is not enough, while the best action is still known in closed form.

SubActionChain (discrete; `MultiDiscrete([B] * D)`, B**D joint actions)
  Every step draws a fresh context `t` uniform in {0..B-1}^D; the observation is the
  concatenated one-hot code of `t` (float32 [D * B]). With a_0 := 0, the reward is

      r(a) = (1 / D) * #{d : a_d == target_d(a)},

  where target_d(a) depends only on t_d and a_{d-1}, by one of two rules (`rule=`):

    'reflect' (default): a_{d-1} is "low" if a_{d-1} < B // 2 (for B = 2: a_{d-1} == 0), and
        target_d(a) = t_d          if a_{d-1} < B // 2,
        target_d(a) = B - 1 - t_d  otherwise.
      A critic needs only about 2B hidden units per sub-action (a threshold on a_{d-1} times
      the one-hot code of t_d). For odd B the middle value t_d = (B - 1) / 2 is its own
      reflection, so for that context value alone the best a_d does not depend on a_{d-1}.
    'add' (harder; kept for benchmarks):
        target_d(a) = (t_d + a_{d-1}) mod B.
      A 3-way modular interaction: a critic needs ~B**2 hidden units per sub-action.

  Under both rules the best value of a_d depends on the value chosen for a_{d-1}. The optimal
  action is the chain a*_1 = t_1 (a_0 = 0 is low, and (t_1 + 0) mod B = t_1), a*_d = target_d
  given a*_{d-1} (for 'add': a*_d = (t_1 + ... + t_d) mod B); it is the unique action with
  r(a*) = 1. The random and best-of-n values below are the same for both rules: for a uniform
  action each condition holds independently with probability p = 1/B, because a_d is uniform
  and independent of target_d(a), which depends only on t and a_{d-1}. So the number of
  satisfied conditions X is Binomial(D, 1/B) and E[r] = 1/B. Best of n uniform actions, scored
  by a perfect critic:
      E[max_i X_i] = sum_{k=1..D} P(max_i X_i >= k) = sum_{k=1..D} 1 - (1 - P(X >= k))^n,
  and E[max_i r(a_i)] = E[max_i X_i] / D.

ContinuousChain (continuous; `Box(-1, 1, (D,))`)
  Every step draws `t` uniform in [-0.5, 0.5]^D; the observation is `t` (float32 [D]). With
  a_0 := 0,

      target_d(a) = t_d + 0.5 * a_{d-1}  (in [-1, 1]),   r(a) = 1 - mean_d |a_d - target_d(a)| / 2,

  so r is in [0, 1]; the optimum a*_1 = t_1, a*_d = t_d + 0.5 * a*_{d-1} gets r = 1. For a
  uniform action, E|U - c| = (1 + c^2) / 2 for U ~ U[-1, 1] and |c| <= 1; target_1 = t_1 has
  E[c^2] = 1/12 and target_d (d >= 2) is t_d + 0.5 U' with E[c^2] = 1/12 + 1/12 = 1/6, so
      E|a_1 - target_1| = 13/24,  E|a_d - target_d| = 7/12,   E[r] = 1 - (14 D - 1) / (48 D).

Both tasks: contexts do not depend on actions, so every return is L times the per-step value:
random L * E[r], optimal L. Episodes last L = `episode_length` steps and end truncated
(terminated=False, truncated=True): a time limit, so Q-targets keep bootstrapping.
All randomness comes from the env's `np_random`, seeded through `reset(seed=...)`.

Registered ids (kwargs default to D=6, B=10, L=10, rule='reflect'; override with `env_kwargs`,
e.g. `{'rule': 'add'}`):
`tf_aql/SubActionChain-v0`, `tf_aql/ContinuousChain-v0`, and the same names without namespace,
`SubActionChain-v0` and `ContinuousChain-v0`, which the module form needs:
`tf_aql.environments.synthetic:SubActionChain-v0` (gymnasium looks up the part after the colon).
"""

import math
from typing import Any, Dict, Optional, Tuple

import gymnasium
import numpy as np

DISCRETE_ENV_NAME = 'SubActionChain-v0'
CONTINUOUS_ENV_NAME = 'ContinuousChain-v0'
NAMESPACE = 'tf_aql'
CHAIN_RULES = ('reflect', 'add')  # SubActionChain target rules; the first is the default.


# --- closed-form values -----------------------------------------------------------------------


def chain_random_return(num_values: int, episode_length: int = 10) -> float:
  """SubActionChain: expected return of uniform random actions, L / B (either rule)."""
  return episode_length / num_values


def chain_best_of_uniform_return(num_sub_actions: int, num_values: int, num_samples: int,
                                 episode_length: int = 10) -> float:
  """SubActionChain: L * E[max over `num_samples` iid uniform actions of r] (perfect critic).

  Exact, for either rule: X ~ Binomial(D, 1/B) conditions hold for a uniform action, and
  E[max of n] = sum_{k=1..D} 1 - (1 - P(X >= k))^n.
  """
  d, p, n = num_sub_actions, 1.0 / num_values, num_samples
  pmf = np.array([math.comb(d, k) * p**k * (1.0 - p)**(d - k) for k in range(d + 1)])  # [D+1]
  tail = np.cumsum(pmf[::-1])[::-1][1:]  # [D]: P(X >= k), k = 1..D
  # 1 - (1 - q)^n, accurate for tiny q.
  prob_max_at_least = -np.expm1(n * np.log1p(-np.minimum(tail, 1.0)))  # [D]
  return float(episode_length * prob_max_at_least.sum() / d)


def chain_num_actions(num_sub_actions: int, num_values: int) -> int:
  """SubActionChain: the number of joint actions B**D, an exact Python int."""
  return num_values**num_sub_actions


def continuous_chain_random_return(num_sub_actions: int, episode_length: int = 10) -> float:
  """ContinuousChain: exact expected return of uniform actions, L * (1 - (14D - 1) / (48D))."""
  d = num_sub_actions
  return episode_length * (1.0 - (14.0 * d - 1.0) / (48.0 * d))


def continuous_chain_best_of_uniform_return(num_sub_actions: int, num_samples: int,
                                            episode_length: int = 10, num_contexts: int = 1000,
                                            seed: int = 0) -> float:
  """ContinuousChain: L * E[max over `num_samples` uniform actions of r], by Monte Carlo.

  Approximate: averages over `num_contexts` contexts drawn with a fixed `seed`.
  """
  rng = np.random.default_rng(seed)
  best = []
  for _ in range(num_contexts):
    context = rng.uniform(-0.5, 0.5, size=[num_sub_actions])  # [D]
    actions = rng.uniform(-1.0, 1.0, size=[num_samples, num_sub_actions])  # [n, D]
    best.append(continuous_chain_rewards(context, actions).max())
  return float(episode_length * np.mean(best))


# --- rewards ------------------------------------------------------------------------------------


def chain_targets(context: np.ndarray, previous: np.ndarray, num_values: int,
                  rule: str = 'reflect') -> np.ndarray:
  """SubActionChain targets: context int [..., D], previous a_{d-1} int [..., D] -> int [..., D].

  'reflect': t_d if a_{d-1} < B // 2 else B - 1 - t_d; 'add': (t_d + a_{d-1}) mod B. Broadcasts.
  """
  _check_rule(rule)
  if rule == 'reflect':
    return np.where(previous < num_values // 2, context, num_values - 1 - context)
  return (context + previous) % num_values


def chain_rewards(context: np.ndarray, actions: np.ndarray, num_values: int,
                  rule: str = 'reflect') -> np.ndarray:
  """SubActionChain rewards: context int [D], actions int [..., D] -> float64 [...] in [0, 1].

  `rule` is 'reflect' (default) or 'add', as in `chain_targets`; anything else raises ValueError.
  """
  actions = np.asarray(actions)
  previous = np.concatenate([np.zeros_like(actions[..., :1]), actions[..., :-1]], axis=-1)
  targets = chain_targets(np.asarray(context), previous, num_values, rule)  # [..., D]
  return np.mean(actions == targets, axis=-1)


def continuous_chain_rewards(context: np.ndarray, actions: np.ndarray) -> np.ndarray:
  """ContinuousChain rewards: context [D], actions [..., D] in [-1, 1] -> float64 [...]."""
  actions = np.asarray(actions, dtype=np.float64)
  previous = np.concatenate([np.zeros_like(actions[..., :1]), actions[..., :-1]], axis=-1)
  targets = context + 0.5 * previous  # [..., D]
  return 1.0 - np.mean(np.abs(actions - targets), axis=-1) / 2.0


# --- environments -------------------------------------------------------------------------------


class _ChainEnv(gymnasium.Env):
  """Shared episode logic: a fresh context every step, truncation after L steps."""

  metadata: Dict[str, Any] = {'render_modes': []}

  def __init__(self, num_sub_actions: int, episode_length: int):
    _check_int_at_least('num_sub_actions', num_sub_actions, 1)
    _check_int_at_least('episode_length', episode_length, 1)
    self.num_sub_actions = int(num_sub_actions)
    self.episode_length = int(episode_length)
    self._context: Optional[np.ndarray] = None
    self._num_steps = 0

  def reset(self, *, seed: Optional[int] = None,
            options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    super().reset(seed=seed)
    self._num_steps = 0
    self._context = self._draw_context()
    return self._observation(), {}

  def step(self, action: np.ndarray) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
    if self._context is None:
      raise gymnasium.error.ResetNeeded('Call reset before step.')
    reward = self.reward_for(action)
    self._num_steps += 1
    self._context = self._draw_context()
    truncated = self._num_steps >= self.episode_length
    return self._observation(), reward, False, truncated, {}

  def optimal_return(self) -> float:
    """The return of the optimal policy, L (every step's reward is 1)."""
    return float(self.episode_length)

  def _check_action(self, action: np.ndarray) -> np.ndarray:
    action = np.asarray(action)
    if not self.action_space.contains(action.astype(self.action_space.dtype)) or (
        action.shape != self.action_space.shape):
      raise ValueError(f'Action {action!r} is not in {self.action_space}.')
    return action

  def _draw_context(self) -> np.ndarray:
    raise NotImplementedError

  def _observation(self) -> np.ndarray:
    raise NotImplementedError

  def reward_for(self, action: np.ndarray) -> float:
    raise NotImplementedError


class SubActionChainEnv(_ChainEnv):
  """Discrete chain task, B**D joint actions (see the module docstring for the math)."""

  def __init__(self, num_sub_actions: int = 6, num_values: int = 10, episode_length: int = 10,
               rule: str = 'reflect'):
    """Builds the task.

    Args:
      num_sub_actions: D, the number of sub-actions.
      num_values: B >= 2, the values of each sub-action.
      episode_length: L, the steps per episode.
      rule: how target_d depends on a_{d-1}: 'reflect' (default; t_d if a_{d-1} < B // 2, else
        B - 1 - t_d) or 'add' ((t_d + a_{d-1}) mod B, harder to learn).
    """
    super().__init__(num_sub_actions, episode_length)
    _check_int_at_least('num_values', num_values, 2)
    _check_rule(rule)
    self.num_values = int(num_values)
    self.rule = rule
    d, b = self.num_sub_actions, self.num_values
    self.action_space = gymnasium.spaces.MultiDiscrete(np.full([d], b, dtype=np.int64))
    self.observation_space = gymnasium.spaces.Box(0.0, 1.0, shape=(d * b,), dtype=np.float32)

  def reward_for(self, action: np.ndarray) -> float:
    """r(a) in [0, 1] for the current context; action int [D]."""
    action = self._check_action(action).astype(np.int64)
    return float(chain_rewards(self._context, action, self.num_values, self.rule))

  def optimal_action(self) -> np.ndarray:
    """The action with reward 1 for the current context, int64 [D].

    The chain a*_1 = t_1, a*_d = target_d given a*_{d-1}, for the active rule.
    """
    action = np.zeros([self.num_sub_actions], dtype=np.int64)
    previous = np.int64(0)
    for d, t_d in enumerate(self._context):
      action[d] = previous = chain_targets(t_d, previous, self.num_values, self.rule)
    return action

  def random_return(self) -> float:
    """Expected return of uniform random actions, L / B (either rule)."""
    return chain_random_return(self.num_values, self.episode_length)

  def best_of_uniform_return(self, num_samples: int) -> float:
    """Expected return of the best of `num_samples` uniform actions per step (exact)."""
    return chain_best_of_uniform_return(
        self.num_sub_actions, self.num_values, num_samples, self.episode_length)

  def num_actions(self) -> int:
    """B**D as an exact Python int."""
    return chain_num_actions(self.num_sub_actions, self.num_values)

  def _draw_context(self) -> np.ndarray:
    return self.np_random.integers(0, self.num_values, size=[self.num_sub_actions],
                                   dtype=np.int64)  # [D]

  def _observation(self) -> np.ndarray:
    one_hot = np.eye(self.num_values, dtype=np.float32)[self._context]  # [D, B]
    return one_hot.reshape([-1])  # [D * B]


class ContinuousChainEnv(_ChainEnv):
  """Continuous chain task on [-1, 1]^D (see the module docstring for the math)."""

  def __init__(self, num_sub_actions: int = 6, episode_length: int = 10):
    """Builds the task.

    Args:
      num_sub_actions: D, the number of sub-actions.
      episode_length: L, the steps per episode.
    """
    super().__init__(num_sub_actions, episode_length)
    d = self.num_sub_actions
    self.action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(d,), dtype=np.float32)
    self.observation_space = gymnasium.spaces.Box(-0.5, 0.5, shape=(d,), dtype=np.float32)

  def reward_for(self, action: np.ndarray) -> float:
    """r(a) in [0, 1] for the current context; action float [D] in [-1, 1]."""
    action = self._check_action(action)
    return float(continuous_chain_rewards(self._context.astype(np.float64), action))

  def optimal_action(self) -> np.ndarray:
    """The action with reward 1 for the current context, float32 [D]."""
    action = np.zeros([self.num_sub_actions], dtype=np.float64)
    previous = 0.0
    for d, t_d in enumerate(self._context.astype(np.float64)):
      action[d] = previous = t_d + 0.5 * previous
    return action.astype(np.float32)

  def random_return(self) -> float:
    """Exact expected return of uniform random actions, L * (1 - (14D - 1) / (48D))."""
    return continuous_chain_random_return(self.num_sub_actions, self.episode_length)

  def best_of_uniform_return(self, num_samples: int) -> float:
    """Monte Carlo estimate (fixed seed) of the best-of-`num_samples` uniform return."""
    return continuous_chain_best_of_uniform_return(
        self.num_sub_actions, num_samples, self.episode_length)

  def num_actions(self) -> float:
    """Infinite (a continuous space), as `ActionSpace.num_actions` reports it."""
    return float('inf')

  def _draw_context(self) -> np.ndarray:
    # float32 so the observation is the context exactly.
    return self.np_random.uniform(-0.5, 0.5, size=[self.num_sub_actions]).astype(np.float32)

  def _observation(self) -> np.ndarray:
    return self._context.copy()


def _check_int_at_least(name: str, value: int, minimum: int) -> None:
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
    raise ValueError(f'{name} must be an integer >= {minimum}; got {value!r}.')


def _check_rule(rule: str) -> None:
  if not isinstance(rule, str) or rule not in CHAIN_RULES:
    options = ', '.join(repr(r) for r in CHAIN_RULES)
    raise ValueError(f'rule must be one of {options}; got {rule!r}.')


def _register() -> None:
  """Registers both tasks with and without the `tf_aql/` namespace (once per process)."""
  entries = [
      (DISCRETE_ENV_NAME, 'SubActionChainEnv',
       {'num_sub_actions': 6, 'num_values': 10, 'episode_length': 10, 'rule': 'reflect'}),
      (CONTINUOUS_ENV_NAME, 'ContinuousChainEnv', {'num_sub_actions': 6, 'episode_length': 10}),
  ]
  for name, class_name, kwargs in entries:
    for env_id in (f'{NAMESPACE}/{name}', name):
      if env_id not in gymnasium.registry:
        gymnasium.register(id=env_id, entry_point=f'{__name__}:{class_name}', kwargs=kwargs)


_register()
