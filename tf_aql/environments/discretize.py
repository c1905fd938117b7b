"""Discretizes a bounded gymnasium `Box` action space into K values per dimension.

AQL (Van de Wiele et al., 2020, arXiv 2001.08116) runs its discrete experiments on continuous
control tasks with every joint discretized into evenly spaced values that include both bounds:
11 bins on [-1, 1] are -1, -0.8, ..., 0.8, 1. Bin `k` of dimension `d` maps to

    a_d = low_d + k * (high_d - low_d) / (K - 1),    k = 0, ..., K - 1,

so bin 0 is exactly `low_d` and bin K-1 exactly `high_d`.

Why not `gymnasium.wrappers.DiscretizeAction`: it maps bin `k` to the *center* of the k-th of K
equal cells, `low + (k + 0.5) * (high - low) / K`, which never reaches the bounds (11 bins on
[-1, 1] give -0.909, ..., 0.909). Saturated actions such as full torque are then unreachable,
and the action set differs from the paper's.
"""

from typing import Optional

import gymnasium
import numpy as np

from tf_aql.action_space import UnsupportedActionSpecError
from tf_aql.errors import EnvironmentLoadError


class DiscretizeBoxAction(gymnasium.ActionWrapper):
  """Turns a bounded `Box` of shape () or [D] into `MultiDiscrete([K] * D)`, endpoints included.

  A shape-() Box becomes a MultiDiscrete with one dimension. The wrapped env receives the
  continuous action `bin_values[d, k_d]` for every dimension `d`, in the Box's dtype and shape.
  """

  def __init__(self, env: gymnasium.Env, num_bins: int):
    """Wraps `env`.

    Args:
      env: a gymnasium env whose action space is a bounded `Box` of shape () or [D].
      num_bins: K >= 2, the number of values per dimension (both bounds included).

    Raises:
      UnsupportedActionSpecError: if the action space is not a bounded Box of shape () or [D].
      ValueError: if `num_bins` is not an integer >= 2.
    """
    super().__init__(env)
    self._box = _check_box(env.action_space)
    self.num_bins = _check_num_bins(num_bins)
    self.bin_values = _bin_values(self._box, self.num_bins)  # [D, K]
    num_dims = self.bin_values.shape[0]
    self.action_space = gymnasium.spaces.MultiDiscrete(
        np.full([num_dims], self.num_bins, dtype=np.int64))

  def action(self, action: np.ndarray) -> np.ndarray:
    """Bin indices int [D] -> the continuous action [*box.shape] the wrapped env receives."""
    indices = np.asarray(action, dtype=np.int64).reshape([-1])  # [D]
    if indices.shape[0] != self.bin_values.shape[0] or np.any(indices < 0) or np.any(
        indices >= self.num_bins):
      raise ValueError(f'Discretized action {action!r} is not in {self.action_space}.')
    values = self.bin_values[np.arange(indices.shape[0]), indices]  # [D]
    return values.reshape(self._box.shape).astype(self._box.dtype)


def _check_box(space: gymnasium.Space) -> gymnasium.spaces.Box:
  """Returns `space` if it is a bounded Box of shape () or [D], else raises."""
  if (not isinstance(space, gymnasium.spaces.Box) or len(space.shape) > 1 or
      not np.all(np.isfinite(space.low)) or not np.all(np.isfinite(space.high))):
    space_repr = ' '.join(repr(space).split())  # On one line.
    raise UnsupportedActionSpecError(
        f'Cannot discretize the action space {space_repr}; discretize_bins needs a bounded Box '
        'action space of shape () or [D].')
  return space


def _check_num_bins(num_bins: Optional[int]) -> int:
  """Returns `num_bins` as an int if it is an integer >= 2, else raises ValueError."""
  if isinstance(num_bins, (bool, np.bool_)) or not isinstance(num_bins, (int, np.integer)) or (
      num_bins < 2):
    raise EnvironmentLoadError(f'discretize_bins must be an integer >= 2 (bins include both bounds); '
                     f'got {num_bins!r}.')
  return int(num_bins)


def _bin_values(box: gymnasium.spaces.Box, num_bins: int) -> np.ndarray:
  """The value of every bin, float64 [D, K]: row d is linspace(low_d, high_d, K).

  `np.linspace` computes `low + k * (high - low) / (K - 1)` and sets the last value to `high`
  exactly, so both bounds are reached without rounding error.
  """
  low = np.asarray(box.low, dtype=np.float64).reshape([-1])  # [D]
  high = np.asarray(box.high, dtype=np.float64).reshape([-1])  # [D]
  return np.linspace(low, high, num_bins, axis=-1)  # [D, K]
