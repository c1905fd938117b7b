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

Nested specs (gymnasium `Dict` and `Tuple` actions). The spec may be a nest (`tf.nest`: dicts in
sorted key order, tuples in order) of bounded leaves of shape () or [k]; their sub-actions are
concatenated in nest order, leaf after leaf, into one vector [..., D], and `to_spec` splits them
back into the nest. If every leaf is discrete (or every leaf continuous) the space is discrete
(continuous) as above. If both kinds occur the space is *hybrid* (`is_hybrid`): the internal
dtype is float32 for every sub-action, a discrete sub-action holding its index 0 .. n_d - 1 as
an exact float. `is_discrete_dim` [D] says which sub-actions are discrete; `num_values` [D] is
n_d for those and 1 for continuous ones; `low`, `high` [D] are the bounds of the continuous ones
and 0, n_d - 1 for the discrete ones. `discrete_part` and `continuous_part` are the pure spaces
of the two kinds (sub-actions in the same relative order), with `split` / `merge` between them
and the hybrid vector. The critic reads a hybrid action as the discrete part's features
followed by the continuous part's.

Ordered values. A discrete spec named `ORDERED_SPEC_NAME` declares that the values of every
sub-action are ordered (the bins of a discretized Box: value k is the k-th of K evenly spaced
levels); `suite_gymnasium.load(..., discretize_bins=K)` names its action spec so. Such spaces
have `ordered = True`, and `ordinal_values` places value k of sub-action d at
2 k / (n_d - 1) - 1 in [-1, 1], as a continuous sub-action would be scaled.
"""

from typing import Optional, Sequence, Tuple, Union

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
    spec: the TF-Agents bounded spec (or nest of them) this space was built from.
    is_discrete: True if every sub-action is discrete (integer leaves).
    is_hybrid: True if discrete and continuous sub-actions are mixed.
    is_discrete_dim: bool [D], which sub-actions are discrete.
    num_dims: D, the number of sub-actions.
    num_values: int64 [D], values per discrete sub-action (discrete and hybrid; 1 for the
      continuous sub-actions of a hybrid space).
    max_num_values: the largest number of values of a discrete sub-action (discrete, hybrid).
    low, high: float32 [D], bounds per sub-action (continuous and hybrid; 0 and n_d - 1 for
      the discrete sub-actions of a hybrid space).
    dtype: int32 (discrete) or float32 (continuous, hybrid), the dtype of action tensors
      inside tf_aql.
    ordered: True for a discrete spec named `ORDERED_SPEC_NAME` (ordered values).
  """

  def __init__(self, action_spec: types.NestedTensorSpec):
    self.spec = _check_spec(action_spec)
    self._leaves = tf.nest.flatten(self.spec)
    self._leaf_sizes = [1 if len(leaf.shape) == 0 else int(leaf.shape[0])
                        for leaf in self._leaves]
    self.num_dims = int(sum(self._leaf_sizes))
    minimum = np.concatenate([np.broadcast_to(np.asarray(leaf.minimum, np.float64), [size])
                              for leaf, size in zip(self._leaves, self._leaf_sizes)])
    maximum = np.concatenate([np.broadcast_to(np.asarray(leaf.maximum, np.float64), [size])
                              for leaf, size in zip(self._leaves, self._leaf_sizes)])
    self.is_discrete_dim = np.concatenate([
        np.full([size], leaf.dtype.is_integer) for leaf, size in zip(self._leaves,
                                                                      self._leaf_sizes)])
    self.is_discrete = bool(self.is_discrete_dim.all())
    self.is_hybrid = bool(self.is_discrete_dim.any()) and not self.is_discrete
    self.ordered = (self.is_discrete and len(self._leaves) == 1
                    and self._leaves[0].name == ORDERED_SPEC_NAME)
    self._offset = np.where(self.is_discrete_dim, minimum, 0).astype(np.int64)  # [D]
    if self.is_discrete or self.is_hybrid:
      self.num_values = np.where(self.is_discrete_dim,
                                 maximum.astype(np.int64) - self._offset + 1, 1)
      self.max_num_values = int(self.num_values[self.is_discrete_dim].max())
    self.dtype = tf.int32 if self.is_discrete else tf.float32
    if not self.is_discrete:
      self.low = np.where(self.is_discrete_dim, 0, minimum).astype(np.float32)
      self.high = np.where(self.is_discrete_dim, self.num_values - 1 if self.is_hybrid else 0,
                           maximum).astype(np.float32)
    if self.is_hybrid:
      self.discrete_dims = np.flatnonzero(self.is_discrete_dim)  # [D_d]
      self.continuous_dims = np.flatnonzero(~self.is_discrete_dim)  # [D_c]
      self.discrete_part = ActionSpace(tensor_spec.BoundedTensorSpec(
          [len(self.discrete_dims)], tf.int64, 0, self.num_values[self.discrete_dims] - 1))
      self.continuous_part = ActionSpace(tensor_spec.BoundedTensorSpec(
          [len(self.continuous_dims)], tf.float32, self.low[self.continuous_dims],
          self.high[self.continuous_dims]))

  # --- sizes -----------------------------------------------------------------------------

  @property
  def num_actions(self) -> Union[int, float]:
    """Number of joint actions: prod(num_values) (an exact Python int), inf if continuous."""
    if not self.is_discrete:
      return float('inf')
    return int(np.prod([int(n) for n in self.num_values], dtype=object))

  @property
  def feature_size(self) -> int:
    """Width F of `features`: D * max_num_values (discrete), D (continuous), the two parts'
    widths added (hybrid)."""
    if self.is_hybrid:
      return self.discrete_part.feature_size + self.continuous_part.feature_size
    return self.num_dims * self.max_num_values if self.is_discrete else self.num_dims

  def describe(self) -> str:
    """One line for logs and errors, e.g. '17 sub-actions x 11 values (5.1e+17 actions)'."""
    if self.is_hybrid:
      return (f'{self.discrete_part.describe()} and '
              f'{self.continuous_part.describe()} (hybrid)')
    if self.is_discrete:
      values = (str(int(self.num_values[0])) if len(set(self.num_values.tolist())) == 1
                else 'per-dimension ' + str(self.num_values.tolist()))
      return (f'{self.num_dims} discrete sub-action(s) x {values} values '
              f'({float(self.num_actions):.3g} joint actions)')
    return f'{self.num_dims} continuous sub-action(s) in [{self.low.min():g}, {self.high.max():g}]'

  # --- conversions ------------------------------------------------------------------------

  def from_spec(self, actions: types.NestedTensor) -> tf.Tensor:
    """Spec-shaped actions (a nest like `spec`, leaves [B, *leaf.shape]) -> internal [B, D]."""
    leaves = tf.nest.flatten(tf.nest.map_structure(tf.convert_to_tensor, actions))
    parts = []
    for leaf, spec in zip(leaves, self._leaves):
      if len(spec.shape) == 0:
        leaf = leaf[..., tf.newaxis]
      parts.append(tf.cast(leaf, tf.int64) if spec.dtype.is_integer
                   else tf.cast(leaf, tf.float32))
    if self.is_discrete:
      actions = parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)
      return tf.cast(actions - self._offset, tf.int32)
    parts = [tf.cast(part, tf.float32) for part in parts]
    actions = parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)
    if self.is_hybrid:
      actions -= self._offset.astype(np.float32)
    return actions

  def to_spec(self, actions: types.Tensor) -> types.NestedTensor:
    """Internal actions [B, D] -> spec-shaped (the nest of `spec`) in the leaves' dtypes."""
    if self.is_discrete:
      actions = tf.cast(actions, tf.int64) + self._offset
    elif self.is_hybrid:
      actions = self.clip(actions) + self._offset.astype(np.float32)
    else:
      actions = self.clip(actions)
    parts = (tf.split(actions, self._leaf_sizes, axis=-1) if len(self._leaves) > 1
             else [actions])
    leaves = []
    for part, spec in zip(parts, self._leaves):
      if spec.dtype.is_integer and not self.is_discrete:
        part = tf.round(part)
      part = tf.cast(part, spec.dtype)
      leaves.append(part[..., 0] if len(spec.shape) == 0 else part)
    return tf.nest.pack_sequence_as(self.spec, leaves)

  def clip(self, actions: types.Tensor) -> tf.Tensor:
    """Clips internal actions [..., D] into the space (hybrid: discrete sub-actions also
    rounded to their nearest index)."""
    if self.is_discrete:
      return tf.clip_by_value(actions, 0, tf.constant(self.num_values - 1, tf.int32))
    if self.is_hybrid:
      actions = tf.where(self.is_discrete_dim, tf.round(actions), actions)
    return tf.clip_by_value(actions, self.low, self.high)

  def split(self, actions: types.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """Hybrid internal actions [..., D] -> (discrete part int32 [..., D_d], continuous part
    float32 [..., D_c])."""
    self._check_hybrid('split')
    discrete = tf.gather(actions, self.discrete_dims, axis=-1)
    continuous = tf.gather(actions, self.continuous_dims, axis=-1)
    return tf.cast(tf.round(discrete), tf.int32), tf.cast(continuous, tf.float32)

  def merge(self, discrete: types.Tensor, continuous: types.Tensor) -> tf.Tensor:
    """The inverse of `split`: parts [..., D_d] and [..., D_c] -> hybrid actions [..., D]."""
    self._check_hybrid('merge')
    both = tf.concat([tf.cast(discrete, tf.float32), tf.cast(continuous, tf.float32)], -1)
    order = np.argsort(np.concatenate([self.discrete_dims, self.continuous_dims]))
    return tf.gather(both, order, axis=-1)

  def _check_hybrid(self, method: str) -> None:
    if not self.is_hybrid:
      raise UnsupportedActionSpecError(f'ActionSpace.{method} needs a hybrid action space; '
                                       f'got {self.describe()}.')

  def features(self, actions: types.Tensor) -> tf.Tensor:
    """What the critic reads: internal actions [..., D] -> features [..., F].

    Discrete: the one-hot code of every sub-action, concatenated (each padded to max_num_values).
    Continuous: every sub-action scaled from [low, high] to [-1, 1].
    Hybrid: the discrete part's features, then the continuous part's.
    """
    if self.is_hybrid:
      discrete, continuous = self.split(actions)
      return tf.concat([self.discrete_part.features(discrete),
                        self.continuous_part.features(continuous)], axis=-1)
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
    if self.is_hybrid:
      values = tf.minimum(tf.floor(unit * self.num_values.astype(np.float32)), self.high)
      return tf.where(self.is_discrete_dim, values, self.low + unit * (self.high - self.low))
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


def _check_spec(action_spec: types.NestedTensorSpec) -> types.NestedTensorSpec:
  """Returns the spec with every leaf a `BoundedTensorSpec`, or raises an error naming what is
  supported."""
  supported = ('tf_aql supports bounded action specs of shape () or [D] (gymnasium Discrete, '
               'MultiDiscrete or a bounded Box), alone or nested in a Dict or Tuple')
  if not tf.nest.flatten(action_spec):
    raise UnsupportedActionSpecError(f'Unsupported empty action spec {action_spec}; '
                                     f'{supported}.')
  return tf.nest.map_structure(lambda spec: _check_leaf(spec, supported), action_spec)


def _check_leaf(spec: types.TensorSpec, supported: str) -> tensor_spec.BoundedTensorSpec:
  """One leaf of an action spec, as a `BoundedTensorSpec`."""
  if not isinstance(spec, tensor_spec.BoundedTensorSpec):
    spec = tensor_spec.from_spec(spec)
  if not isinstance(spec, tensor_spec.BoundedTensorSpec):
    raise UnsupportedActionSpecError(f'Unsupported unbounded action spec {spec}; {supported}.')
  if len(spec.shape) > 1:
    raise UnsupportedActionSpecError(
        f'Unsupported action shape {tuple(spec.shape)}; {supported}.')
  if not (spec.dtype.is_integer or spec.dtype.is_floating):
    raise UnsupportedActionSpecError(f'Unsupported action dtype {spec.dtype.name}; '
                                     f'{supported}.')
  if not np.all(np.isfinite(np.asarray(spec.minimum, np.float64))) or not np.all(
      np.isfinite(np.asarray(spec.maximum, np.float64))):
    raise UnsupportedActionSpecError(
        f'Unsupported action spec with infinite bounds ({spec}); {supported}.')
  return spec
