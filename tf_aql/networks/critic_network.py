"""State-action critic Q(s, a) with a state torso shared with the proposal.

AQL (Van de Wiele, Warde-Farley, Mnih & Mnih, 2020, arXiv 2001.08116) needs a critic that
takes the action as an input, so that `max_a Q(s, a)` can be approximated by scoring sampled
candidates. The network is split in two so that scoring K candidates per state costs one torso
pass per state, not one per candidate:

    e        = torso(s)                                    # [B, E], once per state
    h_1      = act(W_s e + W_a phi(a_k) + b)               # [B, K, H], W_s e computed once
    Q(s,a_k) = w_q^T mlp(h_1) + b_q                        # [B, K]

`phi(a)` is `ActionSpace.features`: one-hot discrete sub-actions, continuous ones scaled to
[-1, 1]. The torso is a TF-Agents `EncodingNetwork`, so preprocessing layers and conv layers
(image observations) work; the proposal network reads the same embedding `e`.

Discrete actions. `W_a phi(a)` with one-hot `phi` is a sum of D rows of `W_a` [D*V, H]:
`sum_d W_a[d*V + a_d]`. `score` computes it that way, fused with `+ W_s e + b` and the
activation in one XLA-compiled function, instead of a [B*K, D*V] x [D*V, H] matmul followed by
two elementwise passes: the same function (equal to float rounding), about a third of the
time of the first head layer (bench/cost.py). Gradients flow through it as through the matmul.
"""

import functools

from typing import Callable, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf
from tf_agents.networks import encoding_network
from tf_agents.networks import network
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace


# Gin name `tf_aql.CriticNetwork`: TF-Agents registers a DDPG `CriticNetwork` too.
@gin.configurable(module='tf_aql')
class CriticNetwork(network.Network):
  """Q(s, a) -> [B]; also `embed(s) -> [B, E]` and `score(e, candidates) -> [B, K]`."""

  def __init__(self,
               input_tensor_spec: types.NestedTensorSpec,
               preprocessing_layers: Optional[types.NestedLayer] = None,
               preprocessing_combiner: Optional[tf.keras.layers.Layer] = None,
               conv_layer_params: Optional[Sequence[tuple]] = None,
               torso_fc_layer_params: Sequence[int] = (256,),
               head_fc_layer_params: Sequence[int] = (256, 256),
               activation_fn: Callable[[tf.Tensor], tf.Tensor] = tf.nn.relu,
               kernel_initializer: Optional[tf.keras.initializers.Initializer] = None,
               name: str = 'CriticNetwork'):
    """Builds the critic.

    Args:
      input_tensor_spec: `(observation_spec, action_spec)`.
      preprocessing_layers: optional Keras layers applied to the observation (TF-Agents
        `EncodingNetwork` semantics).
      preprocessing_combiner: optional layer combining the preprocessed observation parts.
      conv_layer_params: optional `(filters, kernel_size, stride)` tuples for image torsos.
      torso_fc_layer_params: widths of the state torso's dense layers; the last width is the
        state-embedding size E shared with the proposal. Must not be empty.
      head_fc_layer_params: widths of the action head's dense layers (at least one).
      activation_fn: activation of every hidden layer.
      kernel_initializer: optional initializer of every dense kernel (tests use constants).
      name: network name.
    """
    observation_spec, action_spec = input_tensor_spec
    if not torso_fc_layer_params or not head_fc_layer_params:
      raise ValueError('CriticNetwork needs at least one torso layer and one head layer; got '
                       f'torso_fc_layer_params={torso_fc_layer_params}, '
                       f'head_fc_layer_params={head_fc_layer_params}.')
    super().__init__(input_tensor_spec=input_tensor_spec, state_spec=(), name=name)
    self._action_space = ActionSpace(action_spec)
    self._activation_fn = activation_fn
    self._embedding_size = int(torso_fc_layer_params[-1])
    init = kernel_initializer or 'glorot_uniform'
    self._torso = encoding_network.EncodingNetwork(
        observation_spec,
        preprocessing_layers=preprocessing_layers,
        preprocessing_combiner=preprocessing_combiner,
        conv_layer_params=conv_layer_params,
        fc_layer_params=tuple(torso_fc_layer_params),
        activation_fn=activation_fn,
        kernel_initializer=kernel_initializer,
        name=f'{name}/Torso')
    self._setup_head(tuple(head_fc_layer_params), init)

  def _setup_head(self, widths: Sequence[int], init) -> None:
    """First head layer split into a state part and an action part; then an MLP; then Q."""
    self._state_projection = tf.keras.layers.Dense(
        widths[0], kernel_initializer=init, name='head_state_projection')
    self._action_projection = tf.keras.layers.Dense(
        widths[0], use_bias=False, kernel_initializer=init, name='head_action_projection')
    self._head_layers = [
        tf.keras.layers.Dense(w, activation=self._activation_fn, kernel_initializer=init,
                              name=f'head_dense_{i + 1}') for i, w in enumerate(widths[1:])]
    self._q_layer = tf.keras.layers.Dense(1, kernel_initializer=init, name='q_value')
    # Built here: for discrete actions `score` reads its kernel without calling the layer.
    self._action_projection.build(tf.TensorShape([None, self._action_space.feature_size]))
    if self._action_space.is_discrete:
      space = self._action_space
      self._row_offsets = tf.constant(
          np.arange(space.num_dims) * space.max_num_values, tf.int32)  # [D]

  @property
  def action_space(self) -> ActionSpace:
    return self._action_space

  @property
  def state_embedding_size(self) -> int:
    """E, the width of `embed`'s output."""
    return self._embedding_size

  def embed(self, observation: types.NestedTensor,
            step_type: Optional[types.Tensor] = None, training: bool = False) -> tf.Tensor:
    """Runs the state torso once per state: observation [B, ...] -> state_embedding [B, E]."""
    state_embedding, _ = self._torso(observation, step_type=step_type, training=training)
    return state_embedding

  def score(self, state_embedding: tf.Tensor, candidate_actions: tf.Tensor,
            training: bool = False) -> tf.Tensor:
    """Scores K candidates per state without re-running the torso.

    Args:
      state_embedding: [B, E] from `embed`.
      candidate_actions: [B, K, D] internal actions (see `ActionSpace`).
      training: Keras training flag.

    Returns:
      candidate_q_values: [B, K] float32.
    """
    state_part = self._state_projection(state_embedding, training=training)  # [B, H]
    if self._action_space.is_discrete:
      hidden = self._gathered_first_layer(state_part, candidate_actions)  # [B, K, H]
    else:
      hidden = self._dense_first_layer(state_part, candidate_actions, training)  # [B, K, H]
    return self._head(hidden, training)

  def _gathered_first_layer(self, state_part: tf.Tensor,
                            candidate_actions: tf.Tensor) -> tf.Tensor:
    """act(W_s e + b + W_a phi(a_k)) for discrete actions, W_a phi(a_k) as a sum of D rows of
    W_a: state_part [B, H], candidates [B, K, D] -> [B, K, H]."""
    rows = candidate_actions + self._row_offsets  # [B, K, D], rows of W_a
    first_layer = _compiled_gathered_first_layer(self._activation_fn)
    return first_layer(self._action_projection.kernel, rows, state_part)

  def _dense_first_layer(self, state_part: tf.Tensor, candidate_actions: tf.Tensor,
                         training: bool) -> tf.Tensor:
    """act(W_s e + b + W_a phi(a_k)) as a matmul of the features phi: state_part [B, H],
    candidates [B, K, D] -> [B, K, H]. The path of continuous actions (and, for discrete ones,
    the one-hot reference of `_gathered_first_layer`)."""
    batch_size = tf.shape(candidate_actions)[0]
    num_candidates = tf.shape(candidate_actions)[1]
    features = self._action_space.features(candidate_actions)  # [B, K, F]
    flat_features = tf.reshape(features, [-1, self._action_space.feature_size])  # [B*K, F]
    action_part = self._action_projection(flat_features, training=training)  # [B*K, H]
    hidden = tf.reshape(action_part, [batch_size, num_candidates, tf.shape(action_part)[-1]])
    return self._activation_fn(hidden + state_part[:, tf.newaxis, :])  # [B, K, H]

  def _head(self, hidden: tf.Tensor, training: bool) -> tf.Tensor:
    """The head MLP and the Q layer on the first layer's output: [B, K, H] -> [B, K]."""
    batch_size, num_candidates = tf.shape(hidden)[0], tf.shape(hidden)[1]
    hidden = tf.reshape(hidden, [batch_size * num_candidates, tf.shape(hidden)[-1]])  # [B*K, H]
    for layer in self._head_layers:
      hidden = layer(hidden, training=training)
    q_values = self._q_layer(hidden, training=training)  # [B*K, 1]
    return tf.reshape(q_values, [batch_size, num_candidates])

  def call(self, inputs, step_type=None, network_state=(), training=False):
    """(observation [B, ...], action [B, *action_spec.shape]) -> (q_values [B], state)."""
    observation, action = inputs
    state_embedding = self.embed(observation, step_type=step_type, training=training)
    actions = self._action_space.from_spec(action)[:, tf.newaxis, :]  # [B, 1, D]
    q_values = self.score(state_embedding, actions, training=training)[:, 0]  # [B]
    return q_values, network_state


@functools.lru_cache(maxsize=None)
def _compiled_gathered_first_layer(activation_fn: Callable[[tf.Tensor], tf.Tensor]):
  """`_gathered_first_layer` XLA-compiled, one per activation. Kept outside the network, so
  the SavedModel of a policy stores the traced function, not a Python attribute."""
  return tf.function(functools.partial(_gathered_first_layer, activation_fn=activation_fn),
                     jit_compile=True)


def _gathered_first_layer(kernel: tf.Tensor, rows: tf.Tensor, state_part: tf.Tensor,
                          activation_fn: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
  """act(sum_d kernel[rows[..., d]] + state_part): the one-hot matmul as a gather-sum.

  Args:
    kernel: [D*V, H], W_a of the one-hot features.
    rows: [B, K, D] int32, the row of every sub-action's value (a_d + d*V).
    state_part: [B, H], W_s e + b.
    activation_fn: the head's activation.

  Returns:
    [B, K, H]. A loop over the D sub-actions (not a gather of [B, K, D, H] and a sum): under
    XLA the adds fuse into one pass over [B, K, H].
  """
  hidden = tf.gather(kernel, rows[..., 0])  # [B, K, H]
  for d in range(1, rows.shape[-1]):
    hidden += tf.gather(kernel, rows[..., d])
  return activation_fn(hidden + state_part[:, tf.newaxis, :])
