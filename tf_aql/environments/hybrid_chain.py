"""A synthetic task with a hybrid action: discrete and continuous sub-actions in one action.

HybridChain (`Dict({'choice': MultiDiscrete([B] * D), 'params': Box(-1, 1, (C,))})`)
  Every step draws a fresh context: `t` uniform in {0..B-1}^D and `w` uniform in [-1, 1]^C.
  The observation is float32 [D * B + C], the concatenated one-hot code of `t` followed by `w`.
  An action is a = (choice, x): `choice` int [D] in {0..B-1}^D and `x` = params float32 [C] in
  [-1, 1]^C. The reward is

      r(a) = 0.5 * r_choice(choice) + 0.5 * r_params(choice, x)  in [0, 1],

  where r_choice is the SubActionChain reward with the 'reflect' rule for context t
  (`synthetic.chain_rewards`): with a_0 := 0, the fraction of sub-actions d with
  choice_d == target_d, target_d = t_d if choice_{d-1} < B // 2 else B - 1 - t_d; and

      level(v) = 2 v / (B - 1) - 1                      (the value's position in [-1, 1]),
      tau_c    = 0.5 * level(choice[c mod D]) + 0.5 * w_c   (in [-1, 1]),
      r_params = 1 - mean_c |x_c - tau_c| / 2           (in [0, 1]),

  with c = 0..C-1 and choice[k] the 0-based entry k (choice[k] = choice_{k+1}). So the best
  continuous parameters depend on the discrete values actually chosen: parameter c reads entry
  c mod D, and distinct values have distinct levels. tau is computed in float32, the dtype of
  `params`, so the optimal float32 action gets reward exactly 1.

  Optimal: choice* = the SubActionChain optimal chain (choice*_1 = t_1, choice*_d = target_d
  given choice*_{d-1}; r_choice = 1 only there) and x* = tau(choice*) (r_params = 1); r = 1.

  Random (choice uniform on {0..B-1}^D, x uniform on [-1, 1]^C, independent), exactly:
  - E[r_choice] = 1/B: each choice_d is uniform and independent of target_d, which depends only
    on t and choice_{d-1}, so each of the D conditions holds with probability 1/B.
  - E|U - c| = (1 + c^2) / 2 for U ~ U[-1, 1] and |c| <= 1 (integrate: ((1 + c)^2 + (1 - c)^2)
    / 4). x_c is uniform and independent of tau_c, so E|x_c - tau_c| = (1 + E[tau_c^2]) / 2.
  - choice[c mod D] is uniform on {0..B-1}; with v uniform, E[v] = (B - 1) / 2 and
    E[v^2] = (B - 1)(2B - 1) / 6, so E[level^2] = 4 E[v^2] / (B - 1)^2 - 4 E[v] / (B - 1) + 1
    = 2 (2B - 1) / (3 (B - 1)) - 1 = (B + 1) / (3 (B - 1)). level and w_c are independent with
    mean 0 and E[w_c^2] = 1/3, so
        E[tau_c^2] = 0.25 E[level^2] + 0.25 E[w_c^2] = (B + 1) / (12 (B - 1)) + 1/12
                   = B / (6 (B - 1)).
  - E[r_params] = 1 - (1 + E[tau^2]) / 4 = 1 - (7B - 6) / (24 (B - 1)).
  So E[r] = 0.5 / B + 0.5 * E[r_params] = 1 / (2B) + 1/2 - (7B - 6) / (48 (B - 1)), independent
  of D and C; e.g. B = 5: 431/960, B = 10: 217/540. Contexts do not depend on actions, so the
  random return is L * E[r] and the optimal return is L.

Why the sub-action order of a proposal matters here. An autoregressive proposal that draws the
discrete sub-actions first and then the continuous ones conditioned on them,
q(a | s) = prod_d q(choice_d | s, choice_{<d}) * q(x | s, choice), can keep several discrete
choices in play and still pair each sampled choice with parameters at tau(choice): all of its
mass can sit on matched (choice, x) pairs, the optimum among them. A factorized proposal
q(choice | s) q(x | s), with x independent of the sampled choice, cannot when it keeps two
values v != v' of an entry choice[k] that some parameter reads (k < min(C, D)) in play:
the same q(x_c | s) must serve tau_c(v) and tau_c(v'), which differ by |level(v) - level(v')| / 2
>= 1 / (B - 1), and by the triangle inequality E|x_c - tau_c(v)| + E|x_c - tau_c(v')| >=
1 / (B - 1), so it puts mass on mismatched pairs. A factorized proposal can still represent a
point mass on one optimal action (choice*, tau(choice*)); the difference is in what it can
represent while it is uncertain about the choice. (Within `choice`, the best choice_d depends on
choice_{d-1} as in SubActionChain, so the same holds among the discrete sub-actions.)

Episodes last L = `episode_length` steps and end truncated (terminated=False, truncated=True).
All randomness comes from the env's `np_random`, seeded through `reset(seed=...)`.

Registered ids (kwargs default to D=3, B=5, C=2, L=10; override with `env_kwargs`):
`tf_aql/HybridChain-v0` and `HybridChain-v0`; the module form
`tf_aql.environments.hybrid_chain:HybridChain-v0` uses the name without namespace.
"""

from typing import Any, Dict, Mapping, Optional, Tuple

import gymnasium
import numpy as np

from tf_aql.environments.synthetic import _check_int_at_least
from tf_aql.environments.synthetic import chain_rewards
from tf_aql.environments.synthetic import chain_targets

ENV_NAME = 'HybridChain-v0'
NAMESPACE = 'tf_aql'
CHOICE_KEY = 'choice'
PARAMS_KEY = 'params'


# --- closed-form values -----------------------------------------------------------------------


def hybrid_chain_random_return(num_values: int, episode_length: int = 10) -> float:
  """Exact expected return of uniform actions, L * (1/(2B) + 1/2 - (7B - 6) / (48 (B - 1)))."""
  b = num_values
  return episode_length * (0.5 / b + 0.5 - (7.0 * b - 6.0) / (48.0 * (b - 1.0)))


def hybrid_chain_num_choices(num_choices: int, num_values: int) -> int:
  """The number of discrete choices B**D, an exact Python int."""
  return num_values**num_choices


# --- rewards ------------------------------------------------------------------------------------


def hybrid_chain_levels(values: np.ndarray, num_values: int) -> np.ndarray:
  """level(v) = 2 v / (B - 1) - 1: values int [...] -> float32 [...] in [-1, 1]."""
  return (2.0 * np.asarray(values) / (num_values - 1) - 1.0).astype(np.float32)


def hybrid_chain_param_targets(context_params: np.ndarray, choices: np.ndarray,
                               num_values: int) -> np.ndarray:
  """tau: context_params w [..., C], choices int [..., D] -> float32 [..., C]. Broadcasts.

  tau_c = 0.5 * level(choice[c mod D]) + 0.5 * w_c, computed in float32.
  """
  context_params = np.asarray(context_params, dtype=np.float32)
  choices = np.asarray(choices)
  num_params, num_choices = context_params.shape[-1], choices.shape[-1]
  read = choices[..., np.arange(num_params) % num_choices]  # [..., C]: choice[c mod D]
  half = np.float32(0.5)
  return half * hybrid_chain_levels(read, num_values) + half * context_params


def hybrid_chain_rewards(context: np.ndarray, context_params: np.ndarray, choices: np.ndarray,
                         params: np.ndarray, num_values: int) -> np.ndarray:
  """Rewards: t int [..., D], w [..., C], choices int [..., D], params [..., C] -> float64 [...].

  0.5 * chain_rewards(t, choices) ('reflect') + 0.5 * (1 - mean_c |x_c - tau_c| / 2). Broadcasts.
  """
  r_choice = chain_rewards(context, choices, num_values, rule='reflect')  # [...]
  targets = hybrid_chain_param_targets(context_params, choices, num_values).astype(np.float64)
  errors = np.abs(np.asarray(params, dtype=np.float64) - targets)  # [..., C]
  r_params = 1.0 - np.mean(errors, axis=-1) / 2.0
  return 0.5 * r_choice + 0.5 * r_params


# --- environment --------------------------------------------------------------------------------


class HybridChainEnv(gymnasium.Env):
  """Hybrid chain task: B**D discrete choices times [-1, 1]^C (see the module docstring)."""

  metadata: Dict[str, Any] = {'render_modes': []}

  def __init__(self, num_choices: int = 3, num_values: int = 5, num_params: int = 2,
               episode_length: int = 10):
    """Builds the task.

    Args:
      num_choices: D >= 1, the number of discrete sub-actions.
      num_values: B >= 2, the values of each discrete sub-action.
      num_params: C >= 1, the number of continuous sub-actions.
      episode_length: L >= 1, the steps per episode.
    """
    _check_int_at_least('num_choices', num_choices, 1)
    _check_int_at_least('num_values', num_values, 2)
    _check_int_at_least('num_params', num_params, 1)
    _check_int_at_least('episode_length', episode_length, 1)
    self.num_choices = int(num_choices)
    self.num_values = int(num_values)
    self.num_params = int(num_params)
    self.episode_length = int(episode_length)
    d, b, c = self.num_choices, self.num_values, self.num_params
    self.action_space = gymnasium.spaces.Dict({
        CHOICE_KEY: gymnasium.spaces.MultiDiscrete(np.full([d], b, dtype=np.int64)),
        PARAMS_KEY: gymnasium.spaces.Box(-1.0, 1.0, shape=(c,), dtype=np.float32),
    })
    low = np.concatenate([np.zeros([d * b]), -np.ones([c])]).astype(np.float32)
    self.observation_space = gymnasium.spaces.Box(low, np.ones_like(low), dtype=np.float32)
    self._context: Optional[np.ndarray] = None  # t, int64 [D]
    self._context_params: Optional[np.ndarray] = None  # w, float32 [C]
    self._num_steps = 0

  def reset(self, *, seed: Optional[int] = None,
            options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    super().reset(seed=seed)
    self._num_steps = 0
    self._draw_context()
    return self._observation(), {}

  def step(self, action: Mapping[str, np.ndarray]
           ) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
    if self._context is None:
      raise gymnasium.error.ResetNeeded('Call reset before step.')
    reward = self.reward_for(action)
    self._num_steps += 1
    self._draw_context()
    truncated = self._num_steps >= self.episode_length
    return self._observation(), reward, False, truncated, {}

  def reward_for(self, action: Mapping[str, np.ndarray]) -> float:
    """r(a) in [0, 1] for the current context; action {'choice': int [D], 'params': [C]}."""
    choice, params = self._check_action(action)
    return float(hybrid_chain_rewards(self._context, self._context_params, choice, params,
                                      self.num_values))

  def optimal_action(self) -> Dict[str, np.ndarray]:
    """The action with reward 1 for the current context.

    {'choice': the SubActionChain optimal chain, int64 [D], 'params': tau(choice), float32 [C]}.
    """
    choice = np.zeros([self.num_choices], dtype=np.int64)
    previous = np.int64(0)
    for d, t_d in enumerate(self._context):
      choice[d] = previous = chain_targets(t_d, previous, self.num_values, 'reflect')
    params = hybrid_chain_param_targets(self._context_params, choice, self.num_values)
    return {CHOICE_KEY: choice, PARAMS_KEY: params}

  def optimal_return(self) -> float:
    """The return of the optimal policy, L (every step's reward is 1)."""
    return float(self.episode_length)

  def random_return(self) -> float:
    """Exact expected return of uniform actions (see `hybrid_chain_random_return`)."""
    return hybrid_chain_random_return(self.num_values, self.episode_length)

  def num_discrete_choices(self) -> int:
    """B**D as an exact Python int."""
    return hybrid_chain_num_choices(self.num_choices, self.num_values)

  def num_actions(self) -> float:
    """Infinite (the action has a continuous part)."""
    return float('inf')

  def _check_action(self, action: Mapping[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    if not isinstance(action, Mapping) or set(action) != {CHOICE_KEY, PARAMS_KEY}:
      raise ValueError(f'Action {action!r} is not in {self.action_space}.')
    values = []
    for key in (CHOICE_KEY, PARAMS_KEY):
      space, value = self.action_space[key], np.asarray(action[key])
      if value.shape != space.shape or not space.contains(value.astype(space.dtype)):
        raise ValueError(f'Action {action!r} is not in {self.action_space}.')
      values.append(value)
    return values[0].astype(np.int64), values[1]

  def _draw_context(self) -> None:
    self._context = self.np_random.integers(0, self.num_values, size=[self.num_choices],
                                            dtype=np.int64)  # [D]
    # float32 so the observation is the context exactly.
    self._context_params = self.np_random.uniform(
        -1.0, 1.0, size=[self.num_params]).astype(np.float32)  # [C]

  def _observation(self) -> np.ndarray:
    one_hot = np.eye(self.num_values, dtype=np.float32)[self._context]  # [D, B]
    return np.concatenate([one_hot.reshape([-1]), self._context_params])  # [D * B + C]


def _register() -> None:
  """Registers the task with and without the `tf_aql/` namespace (once per process)."""
  kwargs = {'num_choices': 3, 'num_values': 5, 'num_params': 2, 'episode_length': 10}
  for env_id in (f'{NAMESPACE}/{ENV_NAME}', ENV_NAME):
    if env_id not in gymnasium.registry:
      gymnasium.register(id=env_id, entry_point=f'{__name__}:HybridChainEnv', kwargs=kwargs)


_register()
