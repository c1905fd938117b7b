"""Action spaces as the critic, the proposal, the searches and the policies see them.

AQL (Van de Wiele et al., 2020, arXiv 2001.08116) treats an action as a vector of D sub-actions
`a = (a_1, ..., a_D)`. Inside tf_aql every action tensor has that vector shape `[..., D]`:

- discrete (TF-Agents integer spec, from gymnasium `Discrete` or `MultiDiscrete`): sub-action `d`
  is an int32 index in `[0, num_values[d])`; the spec's `minimum` is added back at the policy
  boundary (`to_spec`) and removed on the way in (`from_spec`);
- continuous (float spec, from a bounded gymnasium `Box`): sub-action `d` is a float32 in
  `[low[d], high[d]]`.

A scalar spec (shape `()`, e.g. gymnasium `Discrete(n)`) is a vector with D = 1; `to_spec` drops
that axis again. The critic reads actions through `features`: one-hot per discrete sub-action,
continuous sub-actions scaled to [-1, 1].

Ordered values. A discrete spec named `ORDERED_SPEC_NAME` declares that the values of every
sub-action are ordered (the bins of a discretized Box: value k is the k-th of K evenly spaced
levels); `suite_gymnasium.load(..., discretize_bins=K)` names its action spec so. Such spaces
have `ordered = True`, and `ordinal_values` places value k of sub-action d at
2 k / (n_d - 1) - 1 in [-1, 1], as a continuous sub-action would be scaled.
"""

from typing import Optional, Sequence, Union

import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.typing import types

from tf_aql.errors import TfAqlError

ORDERED_SPEC_NAME = 'ordered_action'  # a discrete spec whose sub-action values are ordered


class UnsupportedActionSpecError(TfAqlError, ValueError):
  """The action spec is not a bounded scalar or vector spec tf_aql can search over."""


class ActionSpace:
  """A bounded vector action space built from a TF-Agents action spec.

  Attributes:
    spec: the TF-Agents `BoundedTensorSpec` this space was built from.
    is_discrete: True for integer specs, False for float specs.
    num_dims: D, the number of sub-actions.
    num_values: int64 [D], values per discrete sub-action (discrete only).
    low, high: float32 [D], bounds per continuous sub-action (continuous only).
    dtype: int32 (discrete) or float32 (continuous), the dtype of action tensors inside tf_aql.
    ordered: True for a discrete spec named `ORDERED_SPEC_NAME` (ordered values).
  """

  def __init__(self, action_spec: types.BoundedTensorSpec):
    self.spec = _check_spec(action_spec)
    self._scalar = len(self.spec.shape) == 0
    self.num_dims = 1 if self._scalar else int(self.spec.shape[0])
    minimum = np.broadcast_to(np.asarray(self.spec.minimum), [self.num_dims])
    maximum = np.broadcast_to(np.asarray(self.spec.maximum), [self.num_dims])
    self.is_discrete = self.spec.dtype.is_integer
    self.ordered = self.is_discrete and self.spec.name == ORDERED_SPEC_NAME
    if self.is_discrete:
      self.dtype = tf.int32
      self._offset = minimum.astype(np.int64)
      self.num_values = (maximum.astype(np.int64) - self._offset + 1)
      self.max_num_values = int(self.num_values.max())
    else:
      self.dtype = tf.float32
      self.low = minimum.astype(np.float32)
      self.high = maximum.astype(np.float32)

  # --- sizes -----------------------------------------------------------------------------

  @property
  def num_actions(self) -> Union[int, float]:
    """Number of joint actions: prod(num_values) (an exact Python int), inf if continuous."""
    if not self.is_discrete:
      return float('inf')
    return int(np.prod([int(n) for n in self.num_values], dtype=object))

  @property
  def feature_size(self) -> int:
    """Width F of `features`: D * max_num_values (discrete), D (continuous)."""
    return self.num_dims * self.max_num_values if self.is_discrete else self.num_dims

  def describe(self) -> str:
    """One line for logs and errors, e.g. '17 sub-actions x 11 values (5.1e+17 actions)'."""
    if self.is_discrete:
      values = (str(int(self.num_values[0])) if len(set(self.num_values.tolist())) == 1
                else 'per-dimension ' + str(self.num_values.tolist()))
      return (f'{self.num_dims} discrete sub-action(s) x {values} values '
              f'({float(self.num_actions):.3g} joint actions)')
    return f'{self.num_dims} continuous sub-action(s) in [{self.low.min():g}, {self.high.max():g}]'

  # --- conversions ------------------------------------------------------------------------

  def from_spec(self, actions: types.Tensor) -> tf.Tensor:
    """Spec-shaped actions [B, *spec.shape] -> internal [B, D]."""
    actions = tf.convert_to_tensor(actions)
    if self._scalar:
      actions = actions[..., tf.newaxis]
    if self.is_discrete:
      return tf.cast(tf.cast(actions, tf.int64) - self._offset, tf.int32)
    return tf.cast(actions, tf.float32)

  def to_spec(self, actions: types.Tensor) -> tf.Tensor:
    """Internal actions [B, D] -> spec-shaped [B, *spec.shape] in the spec's dtype."""
    if self.is_discrete:
      actions = tf.cast(tf.cast(actions, tf.int64) + self._offset, self.spec.dtype)
    else:
      actions = tf.cast(self.clip(actions), self.spec.dtype)
    if self._scalar:
      actions = actions[..., 0]
    return actions

  def clip(self, actions: types.Tensor) -> tf.Tensor:
    """Clips internal actions [..., D] into the space."""
    if self.is_discrete:
      return tf.clip_by_value(actions, 0, tf.constant(self.num_values - 1, tf.int32))
    return tf.clip_by_value(actions, self.low, self.high)

  def features(self, actions: types.Tensor) -> tf.Tensor:
    """What the critic reads: internal actions [..., D] -> features [..., F].

    Discrete: the one-hot code of every sub-action, concatenated (each padded to max_num_values).
    Continuous: every sub-action scaled from [low, high] to [-1, 1].
    """
    if self.is_discrete:
      one_hot = tf.one_hot(actions, self.max_num_values, dtype=tf.float32)  # [..., D, V]
      outer = tf.shape(actions)[:-1]
      return tf.reshape(one_hot, tf.concat([outer, [self.feature_size]], axis=0))
    return self.scale_to_unit(actions)

  def ordinal_values(self) -> np.ndarray:
    """float32 [D, max_num_values]: value k of sub-action d at 2 k / (n_d - 1) - 1 (0 when
    n_d = 1; padding columns k >= n_d continue the line and are never read). Discrete only."""
    steps = np.maximum(self.num_values - 1, 1).astype(np.float32)[:, np.newaxis]  # [D, 1]
    levels = np.arange(self.max_num_values, dtype=np.float32)[np.newaxis, :]  # [1, V]
    return np.where(self.num_values[:, np.newaxis] > 1, 2.0 * levels / steps - 1.0,
                    0.0).astype(np.float32)

  def scale_to_unit(self, actions: types.Tensor) -> tf.Tensor:
    """Continuous [..., D] in [low, high] -> [..., D] in [-1, 1]."""
    return 2.0 * (actions - self.low) / (self.high - self.low) - 1.0

  def scale_from_unit(self, unit_actions: types.Tensor) -> tf.Tensor:
    """Continuous [..., D] in [-1, 1] -> [..., D] in [low, high]."""
    return self.low + (unit_actions + 1.0) * 0.5 * (self.high - self.low)

  # --- sampling and enumeration -----------------------------------------------------------

  def sample_uniform(self, outer_shape: Sequence[Union[int, tf.Tensor]],
                     seed: Optional[types.Seed] = None) -> tf.Tensor:
    """Uniform actions [*outer_shape, D]: each sub-action independently uniform."""
    shape = tf.concat([tf.stack(outer_shape), [self.num_dims]], axis=0)
    unit = tf.random.uniform(shape, dtype=tf.float32, seed=seed)
    if self.is_discrete:
      values = tf.floor(unit * tf.constant(self.num_values, tf.float32))
      return tf.minimum(tf.cast(values, tf.int32), tf.constant(self.num_values - 1, tf.int32))
    return self.low + unit * (self.high - self.low)

  def enumerate(self, start: types.Int, count: int) -> tf.Tensor:
    """Joint actions with flat indices start .. start+count-1, as int32 [count, D].

    The flat index is mixed radix with the last sub-action varying fastest. Indices past
    `num_actions` wrap around (callers mask them). Discrete spaces only.
    """
    if not self.is_discrete:
      raise UnsupportedActionSpecError('enumerate needs a discrete action space; got '
                                       + self.describe())
    index = tf.cast(start, tf.int64) + tf.range(count, dtype=tf.int64)  # [count]
    digits = []
    for n in reversed(self.num_values.tolist()):
      digits.append(index % n)
      index = index // n
    return tf.cast(tf.stack(digits[::-1], axis=-1), tf.int32)


def _check_spec(action_spec: types.BoundedTensorSpec) -> tensor_spec.BoundedTensorSpec:
  """Returns the single bounded spec, or raises an error naming what is supported."""
  supported = ('tf_aql supports one bounded action spec of shape () or [D]: gymnasium Discrete, '
               'MultiDiscrete or a bounded Box')
  specs = tf.nest.flatten(action_spec)
  if len(specs) != 1:
    raise UnsupportedActionSpecError(
        f'Unsupported action spec with {len(specs)} parts ({action_spec}); {supported}.')
  spec = specs[0]
  if not isinstance(spec, tensor_spec.BoundedTensorSpec):
    spec = tensor_spec.from_spec(spec)
  if not isinstance(spec, tensor_spec.BoundedTensorSpec):
    raise UnsupportedActionSpecError(f'Unsupported unbounded action spec {spec}; {supported}.')
  if len(spec.shape) > 1:
    raise UnsupportedActionSpecError(
        f'Unsupported action shape {tuple(spec.shape)}; {supported}.')
  if not np.all(np.isfinite(np.asarray(spec.minimum, np.float64))) or not np.all(
      np.isfinite(np.asarray(spec.maximum, np.float64))):
    raise UnsupportedActionSpecError(
        f'Unsupported action spec with infinite bounds ({spec}); {supported}.')
  return spec
