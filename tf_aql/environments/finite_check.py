"""Stops a run at the first NaN or infinity an environment returns, naming the step and field.

A non-finite observation or reward would otherwise be written to the replay, train the
networks to NaN and leave a greedy policy acting on NaN input, all without a word. The suite's
`GymnasiumEnvironment` checks every observation and reward as it arrives, before anything
(replay, metrics, policy) sees it:

- `'error'` (default): raise `NonFiniteDataError`, whose one-line message names the
  environment, the field, the first bad entry, and the step (counted over all episodes since the
  environment was made) and episode;
- `'warn'`: print that line once per field to stderr and pass the value on unchanged (except a
  NaN reward, which stays an error: TF-Agents' time steps cannot hold one);
- `'ignore'`: no check (and no cost).

Bind it with `suite_gymnasium.load.on_non_finite = 'warn'`.
"""

import sys
from typing import Set

import numpy as np

from tf_aql.errors import TfAqlError

ON_NON_FINITE = ('error', 'warn', 'ignore')


class NonFiniteDataError(TfAqlError):
  """An environment returned NaN or infinity in an observation or a reward."""


class FiniteCheck:
  """Checks observations and rewards of one environment; counts its steps and episodes.

  Args:
    env_name: named in the message.
    on_non_finite: 'error', 'warn' or 'ignore' (see the module docstring).
  """

  def __init__(self, env_name: str, on_non_finite: str = 'error'):
    if on_non_finite not in ON_NON_FINITE:
      raise ValueError(f'on_non_finite must be one of {ON_NON_FINITE}, got {on_non_finite!r}.')
    self._env_name = env_name
    self._mode = on_non_finite
    self._warned: Set[str] = set()
    self.steps = 0  # steps taken, over all episodes
    self.episodes = 0  # resets

  def reset(self, observation: np.ndarray) -> None:
    """Counts a new episode and checks its first observation."""
    self.episodes += 1
    self._check('observation', observation,
                f'at the reset of episode {self.episodes} (after {self.steps} steps)')

  def step(self, observation: np.ndarray, reward: np.ndarray) -> None:
    """Counts a step and checks what it returned."""
    self.steps += 1
    when = f'at step {self.steps} (episode {self.episodes})'
    self._check('observation', observation, when)
    self._check('reward', reward, when)

  def _check(self, field: str, value: np.ndarray, when: str) -> None:
    if self._mode == 'ignore' or not np.issubdtype(value.dtype, np.floating):
      return
    bad = ~np.isfinite(value)
    if not bad.any():
      return
    message = self._message(field, value, bad, when)
    if self._mode == 'error' or (field == 'reward' and np.isnan(value).any()):
      raise NonFiniteDataError(message)
    if field not in self._warned:
      self._warned.add(field)
      print(f'warning: {message}', file=sys.stderr)

  def _message(self, field: str, value: np.ndarray, bad: np.ndarray, when: str) -> str:
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    entry = f'{field}[{", ".join(map(str, index))}]' if index else field
    return (f'{self._env_name} returned {value[index]} in {entry} {when} of this environment: '
            'fix the environment (or a wrapper that normalizes it), or bind '
            "suite_gymnasium.load.on_non_finite = 'warn' to train on it anyway.")
