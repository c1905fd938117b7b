"""A TF-Agents suite for gymnasium 1.x environments (TF-Agents 0.19 ships none).

`load(env_name)` builds any registered gymnasium id, including the `module:EnvName-vN` form
(gymnasium imports `module` first, so the ids it registers become available), optionally
discretizes a Box action space (`discretize_bins`), and wraps the result in a
`GymnasiumEnvironment`, a `PyEnvironment` with these specs and semantics:

- observations: `Box` -> float32 `BoundedArraySpec` (an `ArraySpec` if any bound is infinite);
  `Discrete(n, start)` -> int64 scalar `BoundedArraySpec` [start, start + n - 1];
- actions, the spaces AQL (Van de Wiele et al., 2020, arXiv 2001.08116) searches over:
  bounded `Box` of shape () or [D] -> float32 `BoundedArraySpec`; `Discrete(n, start)` -> int64
  scalar `BoundedArraySpec` [start, start + n - 1]; 1-D `MultiDiscrete(nvec, start)` -> int64
  `BoundedArraySpec` [D] with per-dimension bounds [start_d, start_d + nvec_d - 1];
  a `Dict` or `Tuple` of those (one level) -> the same nest of specs (a hybrid action when
  it mixes discrete and continuous parts; see `tf_aql.action_space`);
- steps: gymnasium's `terminated` -> `ts.termination` (discount 0, the Q-target stops);
  `truncated` alone -> `ts.truncation` (discount 1, the Q-target still bootstraps:
  `r + gamma * Q(s', a*)`); otherwise `ts.transition` (discount 1);
- checks: a NaN or infinite observation or reward stops the run with one line naming the step
  and the field (`finite_check`; `on_non_finite = 'warn'` reports it and goes on);
- seeding: the first reset calls `env.reset(seed=seed)` and seeds the action space; later resets
  pass no seed, so gymnasium's RNG continues and a run is reproducible from one seed.
"""

import importlib
from typing import Any, Dict, Optional

import gin
import gymnasium
from gymnasium.envs import registration
import numpy as np
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.typing import types

from tf_aql.action_space import ORDERED_SPEC_NAME, UnsupportedActionSpecError
from tf_aql.errors import EnvironmentLoadError
from tf_aql.environments.discretize import DiscretizeBoxAction
from tf_aql.environments.finite_check import ON_NON_FINITE, FiniteCheck

_SUPPORTED_ACTIONS = ('tf_aql supports Box (bounded, shape () or [D]), Discrete and '
                      'MultiDiscrete action spaces, alone or as the entries of one Dict or '
                      'Tuple (not nested deeper)')
_SUPPORTED_OBSERVATIONS = ('tf_aql supports Box and Discrete observation spaces '
                           '(flatten others with a gymnasium wrapper)')


class GymnasiumEnvironment(py_environment.PyEnvironment):
  """A `PyEnvironment` wrapping a `gymnasium.Env` (5-tuple step API)."""

  def __init__(self, gym_env: gymnasium.Env, seed: Optional[int] = None,
               on_non_finite: str = 'error'):
    """Wraps `gym_env`.

    Args:
      gym_env: the gymnasium environment; this object owns it from now on (`close` closes it).
      seed: passed to `gym_env.reset` and `gym_env.action_space.seed` at the first reset; None
        leaves gymnasium's seeding to the OS entropy.
      on_non_finite: what a NaN or infinite observation or reward does: 'error', 'warn' or
        'ignore' (see `finite_check`).

    Raises:
      UnsupportedActionSpecError: if the action space is not one of those tf_aql supports.
      ValueError: if the observation space is not a Box or Discrete.
    """
    super().__init__(handle_auto_reset=True)
    self._env = gym_env
    self._action_spec = action_spec_from_space(gym_env.action_space)
    if isinstance(gym_env, DiscretizeBoxAction):  # bins of a Box: ordered values
      self._action_spec = self._action_spec.replace(name=ORDERED_SPEC_NAME)
    self._observation_spec = observation_spec_from_space(gym_env.observation_space)
    self._pending_seed = seed
    self._info: Dict[str, Any] = {}
    name = gym_env.spec.id if gym_env.spec is not None else type(gym_env.unwrapped).__name__
    self._finite_check = FiniteCheck(name, on_non_finite)

  # --- specs ------------------------------------------------------------------------------

  def observation_spec(self) -> array_spec.ArraySpec:
    return self._observation_spec

  def action_spec(self) -> array_spec.BoundedArraySpec:
    return self._action_spec

  # --- passthroughs -----------------------------------------------------------------------

  @property
  def gym_env(self) -> gymnasium.Env:
    """The wrapped gymnasium environment."""
    return self._env

  def get_info(self) -> Dict[str, Any]:
    """The info dict gymnasium returned with the last reset or step."""
    return self._info

  def seed(self, seed: Optional[int]) -> None:
    """Makes the next reset use `seed` (and reseeds the action space then)."""
    self._pending_seed = seed

  def render(self, mode: str = 'rgb_array') -> Optional[types.NestedArray]:
    """Returns `gym_env.render()`; the mode is fixed when the env is made.

    Raises:
      ValueError: if the env was not made with `render_mode=mode` (pass
        `env_kwargs={'render_mode': 'rgb_array'}` to `load`).
    """
    if self._env.render_mode != mode:
      raise ValueError(
          f'Cannot render in mode {mode!r}: the environment was made with render_mode='
          f'{self._env.render_mode!r} (pass env_kwargs={{"render_mode": {mode!r}}} to load).')
    return self._env.render()

  def close(self) -> None:
    self._env.close()

  # --- reset and step ---------------------------------------------------------------------

  def _reset(self) -> ts.TimeStep:
    """Resets gymnasium, with the constructor's seed the first time only."""
    seed, self._pending_seed = self._pending_seed, None
    if seed is not None:
      self._env.action_space.seed(seed)
    observation, self._info = self._env.reset(seed=seed)
    observation = self._to_observation(observation)
    self._finite_check.reset(observation)
    return ts.restart(observation)

  def _step(self, action: types.NestedArray) -> ts.TimeStep:
    """One gymnasium step; terminated -> discount 0, truncated -> discount 1."""
    observation, reward, terminated, truncated, self._info = self._env.step(
        self._to_gym_action(action))
    observation = self._to_observation(observation)
    reward = np.asarray(reward, dtype=np.float32)
    self._finite_check.step(observation, reward)
    if terminated:
      return ts.termination(observation, reward)
    if truncated:
      return ts.truncation(observation, reward, discount=np.float32(1.0))
    return ts.transition(observation, reward, discount=np.float32(1.0))

  def _to_observation(self, observation: Any) -> np.ndarray:
    """A gymnasium observation as an array of the observation spec's dtype and shape."""
    spec = self._observation_spec
    return np.asarray(observation, dtype=spec.dtype).reshape(spec.shape)

  def _to_gym_action(self, action: types.NestedArray) -> Any:
    """A spec-shaped action as the gymnasium action space expects it."""
    return _gym_action(self._env.action_space, action)


def _gym_action(space: gymnasium.Space, action: types.NestedArray) -> Any:
  """A spec-shaped action (a nest for Dict and Tuple spaces) in the form of `space`."""
  if isinstance(space, gymnasium.spaces.Dict):
    return {key: _gym_action(part, action[key]) for key, part in space.spaces.items()}
  if isinstance(space, gymnasium.spaces.Tuple):
    return tuple(_gym_action(part, part_action)
                 for part, part_action in zip(space.spaces, action))
  if isinstance(space, gymnasium.spaces.Discrete):
    return int(np.asarray(action).reshape([]))
  return np.asarray(action, dtype=space.dtype).reshape(space.shape)


def action_spec_from_space(space: gymnasium.Space) -> types.NestedArraySpec:
  """The TF-Agents action spec of a gymnasium action space.

  Returns:
    Box -> float32 [*box.shape] bounded by low/high; Discrete -> int64 [] bounded by
    [start, start + n - 1]; MultiDiscrete -> int64 [D] bounded per dimension; Dict -> a dict
    of those (spec names are the keys), Tuple -> a tuple of those (names 'action_<i>').

  Raises:
    UnsupportedActionSpecError: for any other space, a Box or MultiDiscrete of rank > 1, a Box
      with an infinite bound or an integer dtype, an empty Dict or Tuple, or one nested deeper.
  """
  if isinstance(space, gymnasium.spaces.Dict) and space.spaces:
    return {key: _leaf_action_spec(part, space, name=str(key))
            for key, part in space.spaces.items()}
  if isinstance(space, gymnasium.spaces.Tuple) and space.spaces:
    return tuple(_leaf_action_spec(part, space, name=f'action_{i}')
                 for i, part in enumerate(space.spaces))
  return _leaf_action_spec(space, space)


def _leaf_action_spec(space: gymnasium.Space, whole: gymnasium.Space,
                      name: str = 'action') -> array_spec.BoundedArraySpec:
  """A Box, Discrete or 1-D MultiDiscrete -> its spec; anything else raises, naming `whole`."""
  if isinstance(space, gymnasium.spaces.Box):
    return _box_action_spec(space, whole, name)
  if isinstance(space, gymnasium.spaces.Discrete):
    start = int(space.start)
    return array_spec.BoundedArraySpec(
        (), np.int64, minimum=start, maximum=start + int(space.n) - 1, name=name)
  if isinstance(space, gymnasium.spaces.MultiDiscrete) and len(space.shape) == 1:
    start = np.asarray(space.start, dtype=np.int64)
    return array_spec.BoundedArraySpec(
        space.shape, np.int64, minimum=start,
        maximum=start + np.asarray(space.nvec, dtype=np.int64) - 1, name=name)
  raise _unsupported_action_space(whole)


def _box_action_spec(space: gymnasium.spaces.Box, whole: gymnasium.Space,
                     name: str) -> array_spec.BoundedArraySpec:
  """A bounded float Box of shape () or [D] -> float32 spec; anything else raises."""
  if (len(space.shape) > 1 or not np.issubdtype(space.dtype, np.floating) or
      not np.all(np.isfinite(space.low)) or not np.all(np.isfinite(space.high))):
    raise _unsupported_action_space(whole)
  return array_spec.BoundedArraySpec(
      space.shape, np.float32, minimum=space.low.astype(np.float32),
      maximum=space.high.astype(np.float32), name=name)


def _unsupported_action_space(space: gymnasium.Space) -> UnsupportedActionSpecError:
  return UnsupportedActionSpecError(
      f'Unsupported action space {describe_space(space)}; {_SUPPORTED_ACTIONS}.')


def describe_space(space: gymnasium.Space) -> str:
  """The repr of `space` on one line (numpy prints matrices over several)."""
  return ' '.join(repr(space).split())


def observation_spec_from_space(space: gymnasium.Space) -> array_spec.ArraySpec:
  """The TF-Agents observation spec of a gymnasium observation space.

  Returns:
    Box -> float32 [*box.shape], bounded unless a bound is infinite; Discrete -> int64 []
    bounded by [start, start + n - 1].

  Raises:
    ValueError: for any other observation space.
  """
  if isinstance(space, gymnasium.spaces.Box):
    if np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)):
      return array_spec.BoundedArraySpec(
          space.shape, np.float32, minimum=space.low.astype(np.float32),
          maximum=space.high.astype(np.float32), name='observation')
    return array_spec.ArraySpec(space.shape, np.float32, name='observation')
  if isinstance(space, gymnasium.spaces.Discrete):
    start = int(space.start)
    return array_spec.BoundedArraySpec(
        (), np.int64, minimum=start, maximum=start + int(space.n) - 1, name='observation')
  raise EnvironmentLoadError(
      f'Unsupported observation space {describe_space(space)}; {_SUPPORTED_OBSERVATIONS}.')


@gin.configurable(module='suite_gymnasium')
def load(env_name: str,
         discretize_bins: Optional[int] = None,
         env_kwargs: Optional[Dict[str, Any]] = None,
         max_episode_steps: Optional[int] = None,
         seed: Optional[int] = None,
         on_non_finite: str = 'error') -> GymnasiumEnvironment:
  """Makes a gymnasium environment and wraps it for TF-Agents.

  Args:
    env_name: a gymnasium id, e.g. 'Pendulum-v1', or 'module:EnvName-vN' to import `module`
      (which registers the id) first.
    discretize_bins: K >= 2 turns a Box action space into MultiDiscrete([K] * D), bin k of
      dimension d being low_d + k * (high_d - low_d) / (K - 1) (see `DiscretizeBoxAction`).
    env_kwargs: keyword arguments for the environment constructor (via `gymnasium.make`).
    max_episode_steps: overrides the registered time limit (episodes then end truncated).
    seed: seeds the first reset and the action space (see `GymnasiumEnvironment`).
    on_non_finite: a NaN or infinite observation or reward stops the run with one line naming
      the step and the field ('error'), is reported once per field ('warn'), or passes
      unchecked ('ignore'); see `finite_check`.

  Returns:
    The wrapped environment.

  Raises:
    ValueError: if `env_name` is not a registered id, or `discretize_bins` < 2.
    UnsupportedActionSpecError: if the (discretized) action space is not supported.
  """
  if on_non_finite not in ON_NON_FINITE:
    raise EnvironmentLoadError(f'suite_gymnasium.load.on_non_finite must be one of '
                               f'{ON_NON_FINITE}, got {on_non_finite!r}.')
  _check_env_id(env_name)
  gym_env = gymnasium.make(env_name, max_episode_steps=max_episode_steps, **(env_kwargs or {}))
  if discretize_bins is not None:
    gym_env = DiscretizeBoxAction(gym_env, discretize_bins)
  return GymnasiumEnvironment(gym_env, seed=seed, on_non_finite=on_non_finite)


def _check_env_id(env_name: str) -> None:
  """Raises a one-sentence ValueError unless `env_name` resolves like `gymnasium.make` does.

  Imports the module of a 'module:EnvName-vN' id, then looks the id up in the registry (an id
  without '-vN' means its highest version, as in `gymnasium.make`).
  """
  module, _, env_id = env_name.rpartition(':')
  if module:
    _import_registering_module(module, env_name)
  try:
    namespace, name, version = registration.parse_env_id(env_id)
    if version is None:
      version = registration.find_highest_version(namespace, name)
    gymnasium.spec(registration.get_env_id(namespace, name, version))
  except gymnasium.error.Error as e:
    raise EnvironmentLoadError(_unknown_id_message(env_name, f'gymnasium says "{e}"')) from None


def _import_registering_module(module: str, env_name: str) -> None:
  """Imports `module`; a missing `module` is an unknown id, a missing dependency re-raises."""
  try:
    importlib.import_module(module)
  except ModuleNotFoundError as e:
    if e.name is None or not (module == e.name or module.startswith(e.name + '.')):
      raise  # `module` exists but one of its own imports is missing.
    raise EnvironmentLoadError(_unknown_id_message(
        env_name, f'its module {module!r} cannot be imported ({e})')) from None


def _unknown_id_message(env_name: str, reason: str) -> str:
  return (f'Unknown gymnasium environment id {env_name!r}; {reason} (check the spelling, or use '
          f'the module:EnvName-vN form to import the module that registers it).')
