"""Policy pi(a|s) and value V(s) on one shared torso, for actor-critic agents such as IMPALA.

IMPALA (Espeholt et al., 2018, arXiv 1802.01561) trains a policy and a value function that read
the same state embedding:

    e      = torso(s)                                  # [..., E], a TF-Agents EncodingNetwork
    V(s)   = w_v^T e + b_v                             # [...]
    pi(a|s) = prod_d pi_d(a_d | s)                     # independent sub-actions

over the action spaces AQL handles (`tf_aql.action_space`):

- discrete (Discrete, MultiDiscrete): one softmax per sub-action over its num_values[d] values,
  logits W_d e + b_d, padded to V = max_num_values with -1e9 for the values a sub-action does
  not have (probability exactly 0), shifted by the spec's minimum;
- continuous (bounded Box): per sub-action a normal truncated to [low_d, high_d],

      loc_d   = center_d + half_range_d tanh(m_d)
      scale_d = half_range_d (min_scale + (max_scale - min_scale) sigmoid(s_d)).

  The truncated normal has a positive, finite density on the closed box, bounds included, and
  exact log-probabilities, entropy and mode (loc). An off-policy learner recomputes log pi(a) of
  every action an actor emitted, after the policy's clip to the spec: a tanh-squashed Gaussian
  gives an infinite log-density to actions that round onto a bound (atanh(+-1)), a Beta density
  is 0 or infinite there unless its concentration is exactly 1.

Outer dimensions pass through: observations [B, ...] give a distribution with batch shape [B]
and values [B]; unrolls [B, T, ...] give [B, T]. `call` returns the distribution only (what
TF-Agents' `ActorPolicy` reads); `distribution_and_value` runs the torso once for both.
"""

from typing import Callable, Optional, Sequence, Tuple

import gin
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.networks import encoding_network
from tf_agents.networks import network
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace, UnsupportedActionSpecError

tfd = tfp.distributions
tfb = tfp.bijectors

# Logit of the values a discrete sub-action does not have (its num_values < max_num_values).
MASKED_LOGIT = -1e9
# The policy head starts small: a near-uniform softmax, a truncated normal centred in the box.
_HEAD_INIT_STDDEV = 0.01


@gin.configurable
class PolicyValueNetwork(network.Network):
  """observation [..., *obs] -> (pi(.|s) with batch shape [...], V(s) [...])."""

  def __init__(self,
               input_tensor_spec: types.NestedTensorSpec,
               action_spec: types.BoundedTensorSpec,
               preprocessing_layers: Optional[types.NestedLayer] = None,
               preprocessing_combiner: Optional[tf.keras.layers.Layer] = None,
               conv_layer_params: Optional[Sequence[tuple]] = None,
               fc_layer_params: Sequence[int] = (256, 256),
               activation_fn: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               min_scale: float = 0.01,
               max_scale: float = 1.0,
               name: str = 'PolicyValueNetwork'):
    """Builds the network.

    Args:
      input_tensor_spec: the observation spec.
      action_spec: one bounded action spec (see `tf_aql.action_space`).
      preprocessing_layers: optional Keras layers applied to the observation (TF-Agents
        `EncodingNetwork` semantics).
      preprocessing_combiner: optional layer combining the preprocessed observation parts.
      conv_layer_params: optional `(filters, kernel_size, stride)` tuples for image torsos.
      fc_layer_params: widths of the shared torso's dense layers (at least one).
      activation_fn: activation of every torso layer.
      min_scale, max_scale: range of the truncated normals' scale, in units of each
        sub-action's half range (continuous spaces only).
      name: network name.

    Raises:
      ValueError: for an empty torso or an empty scale range.
      UnsupportedActionSpecError: for an action spec tf_aql cannot handle.
    """
    if not fc_layer_params:
      raise ValueError('PolicyValueNetwork needs at least one torso layer; got '
                       f'fc_layer_params={fc_layer_params}.')
    if not 0.0 < min_scale < max_scale:
      raise ValueError('PolicyValueNetwork needs 0 < min_scale < max_scale; got '
                       f'{min_scale} and {max_scale}.')
    super().__init__(input_tensor_spec=input_tensor_spec, state_spec=(), name=name)
    self._action_space = ActionSpace(action_spec)
    if len(tf.nest.flatten(action_spec)) > 1:
      raise UnsupportedActionSpecError(
          'IMPALA (PolicyValueNetwork) needs one Discrete, MultiDiscrete or Box action, but '
          f'this environment has {self._action_space.describe()}; use gin/methods/aql.gin, '
          'uniform_ql.gin or qt_opt.gin for Dict and Tuple actions.')
    self._min_scale = float(min_scale)
    self._max_scale = float(max_scale)
    self._torso = encoding_network.EncodingNetwork(
        input_tensor_spec,
        preprocessing_layers=preprocessing_layers,
        preprocessing_combiner=preprocessing_combiner,
        conv_layer_params=conv_layer_params,
        fc_layer_params=tuple(fc_layer_params),
        activation_fn=activation_fn,
        name=f'{name}/Torso')
    space = self._action_space
    self._num_params = space.max_num_values if space.is_discrete else 2  # P per sub-action
    self._policy_layer = tf.keras.layers.Dense(
        space.num_dims * self._num_params,
        kernel_initializer=tf.keras.initializers.TruncatedNormal(stddev=_HEAD_INIT_STDDEV),
        name='policy_params')
    self._value_layer = tf.keras.layers.Dense(1, name='value')
    # Built here: `call` (what `create_variables` runs) never reaches the value head.
    embedding_size = int(fc_layer_params[-1])
    for layer in (self._policy_layer, self._value_layer):
      with tf.name_scope(f'{name}/{layer.name}'):
        layer.build([None, embedding_size])

  @property
  def action_space(self) -> ActionSpace:
    return self._action_space

  def call(self,
           observation: types.NestedTensor,
           step_type: Optional[types.Tensor] = None,
           network_state: types.NestedTensor = (),
           training: bool = False) -> Tuple[tfd.Distribution, types.NestedTensor]:
    """(pi(.|s), network_state): what `ActorPolicy` calls; the value head is not run."""
    embedding, _ = self._torso(observation, step_type=step_type, training=training)
    return self._distribution(embedding), network_state

  def distribution_and_value(self,
                             observation: types.NestedTensor,
                             step_type: Optional[types.Tensor] = None,
                             training: bool = False) -> Tuple[tfd.Distribution, tf.Tensor]:
    """(pi(.|s) with batch shape [...], V(s) [...]) from one torso pass over [..., *obs]."""
    embedding, _ = self._torso(observation, step_type=step_type, training=training)
    values = self._value_layer(embedding, training=training)[..., 0]
    return self._distribution(embedding), values

  def _distribution(self, embedding: tf.Tensor) -> tfd.Distribution:
    """pi(.|s) from the torso's output [..., E]: batch shape [...], event shape spec.shape."""
    space = self._action_space
    params = self._policy_layer(embedding)  # [..., D * P]
    params = tf.reshape(params, tf.concat(
        [tf.shape(params)[:-1], [space.num_dims, self._num_params]], axis=0))  # [..., D, P]
    scalar = len(space.spec.shape) == 0
    if scalar:  # D = 1 and no event dimension: params [..., P], the [D] constants broadcast
      params = params[..., 0, :]
    per_dim = self._categorical(params) if space.is_discrete else self._truncated_normal(params)
    return per_dim if scalar else tfd.Independent(per_dim, reinterpreted_batch_ndims=1)

  def _categorical(self, logits: tf.Tensor) -> tfd.Distribution:
    """Softmaxes over the values of every sub-action, logits [..., D, V] -> batch [..., D]
    (a scalar spec: [..., V] -> [...])."""
    space = self._action_space
    valid = (np.arange(space.max_num_values)[np.newaxis, :]
             < space.num_values[:, np.newaxis])  # [D, V]
    if not valid.all():
      logits = tf.where(valid, logits, MASKED_LOGIT)
    categorical = tfd.Categorical(logits=logits, dtype=space.spec.dtype)  # index from 0
    minimum = np.broadcast_to(np.asarray(space.spec.minimum), [space.num_dims])
    if not np.any(minimum):
      return categorical
    return tfd.TransformedDistribution(
        categorical, tfb.Shift(tf.constant(minimum, space.spec.dtype)))

  def _truncated_normal(self, params: tf.Tensor) -> tfd.Distribution:
    """Normals truncated to [low_d, high_d], params [..., D, 2] -> batch [..., D] (a scalar
    spec: [..., 2] -> [...])."""
    space = self._action_space
    center = 0.5 * (space.low + space.high)  # [D]
    half_range = 0.5 * (space.high - space.low)  # [D]
    loc = center + half_range * tf.tanh(params[..., 0])
    unit_scale = self._min_scale + (self._max_scale - self._min_scale) * tf.sigmoid(
        params[..., 1])
    return tfd.TruncatedNormal(loc=loc, scale=half_range * unit_scale, low=space.low,
                               high=space.high)
