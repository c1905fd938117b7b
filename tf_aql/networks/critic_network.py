"""State-action critic Q(s, a) with a state torso shared with the proposal.

AQL (Van de Wiele, Warde-Farley, Mnih & Mnih, 2020, arXiv 2001.08116) needs a critic that
takes the action as an input, so that `max_a Q(s, a)` can be approximated by scoring sampled
candidates. The network is split in two so that scoring K candidates per state costs one torso
pass per state, not one per candidate:

    e        = torso(s)                                    # [B, E], once per state
    h_1      = act(W_s e + W_a phi(a_k) + b)               # [B, K, H], W_s e computed once
    Q(s,a_k) = w_q^T mlp(h_1) + b_q                        # [B, K]

`phi(a)` is `ActionSpace.features`: one-hot discrete sub-actions, continuous ones scaled to
[-1, 1]. With `discrete_action_encoding='one_hot_and_ordinal'` (the default for ordered values,
i.e. the bins of a discretized Box: see `ActionSpace.ordered`) every discrete sub-action also
enters through its level u_d(a_d) in [-1, 1] (`ActionSpace.ordinal_values`):

    W_a phi(a) = sum_d ( W_a[d*V + a_d] + u_d(a_d) w_d )

so neighbouring torque levels share a direction w_d of the first layer and what the critic
learns about one bin carries over to the next; the one-hot rows still let it learn any shape.

Scoring passes. `score` splits the B x K candidate rows into passes of at most
`max_rows_per_scoring_pass` rows (8192: 8 MB per activation of width 256), so that each pass's
activations stay in the CPU's cache; the values are the same as in one pass.

`state_value_head=True` splits Q into a state value and an action-dependent part (Wang et
al., 2016, without their mean-advantage constraint, which needs every action):

    Q(s, a_k) = v^T e + b_v + w_q^T mlp(h_1) + b_q        # v^T e once per state

so the part of Q that depends on the state only (with gamma near 1 most of Q) has a direct
path from the embedding, and the head's layers are left to the action-dependent part.

`layer_norm=True` normalizes every head layer before its activation (Ba et al., 2016).
`normalize_observations=True` feeds the torso (s - mean) / std, clipped to [-5, 5], with the
running mean and variance of the observations the learner has trained on (TF-Agents'
`StreamingTensorNormalizer`, updated by the agent each train step; its statistics are
variables of the network, so target copies, checkpoints and exported policies carry them). The torso is a TF-Agents `EncodingNetwork`, so preprocessing layers and conv layers
(image observations) work; the proposal network reads the same embedding `e`.

Discrete actions. `W_a phi(a)` with one-hot `phi` is a sum of D rows of `W_a` [D*V, H]:
`sum_d W_a[d*V + a_d]`. `score` computes it that way, fused with `+ W_s e + b` and the
activation in one XLA-compiled function, instead of a [B*K, D*V] x [D*V, H] matmul followed by
two elementwise passes: the same function (equal to float rounding), about a third of the
time of the first head layer (bench/cost.py). Gradients flow through it as through the matmul.
"""

import functools

from typing import Callable, List, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf
from tf_agents.networks import encoding_network
from tf_agents.networks import network
from tf_agents.typing import types
from tf_agents.utils import tensor_normalizer

from tf_aql.action_space import ActionSpace

DISCRETE_ACTION_ENCODINGS = ('auto', 'one_hot', 'one_hot_and_ordinal')


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
               discrete_action_encoding: str = 'auto',
               layer_norm: bool = False,
               normalize_observations: bool = False,
               state_value_head: bool = False,
               max_rows_per_scoring_pass: Optional[int] = 8192,
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
      discrete_action_encoding: how discrete sub-actions enter the head: 'one_hot', or
        'one_hot_and_ordinal' (one-hot plus the value's level in [-1, 1]); 'auto' picks the
        latter for ordered values (`ActionSpace.ordered`) and one-hot otherwise. Continuous
        sub-actions always enter as their values scaled to [-1, 1].
      layer_norm: LayerNorm on every head layer, before the activation.
      normalize_observations: standardize float observations with running statistics
        (`update_observation_statistics`) before the torso.
      state_value_head: add a linear state value v^T e + b_v to every candidate's Q.
      max_rows_per_scoring_pass: `score` splits B x K candidate rows into passes of at most
        this many rows (along K, when B and K are known when the graph is built, e.g. in the
        learner); None: one pass. Smaller activations stay in the CPU's cache: 8192 rows of
        width 256 are 8 MB (bench/results/cost_chunked_scoring.md).
      name: network name.
    """
    observation_spec, action_spec = input_tensor_spec
    if not torso_fc_layer_params or not head_fc_layer_params:
      raise ValueError('CriticNetwork needs at least one torso layer and one head layer; got '
                       f'torso_fc_layer_params={torso_fc_layer_params}, '
                       f'head_fc_layer_params={head_fc_layer_params}.')
    if max_rows_per_scoring_pass is not None and max_rows_per_scoring_pass < 1:
      raise ValueError('CriticNetwork.max_rows_per_scoring_pass must be a positive integer or '
                       f'None; got {max_rows_per_scoring_pass}.')
    if discrete_action_encoding not in DISCRETE_ACTION_ENCODINGS:
      raise ValueError(f'Unknown discrete_action_encoding {discrete_action_encoding!r}; use one '
                       f'of {DISCRETE_ACTION_ENCODINGS}.')
    super().__init__(input_tensor_spec=input_tensor_spec, state_spec=(), name=name)
    self._action_space = ActionSpace(action_spec)
    self._ordinal = self._action_space.is_discrete and (
        discrete_action_encoding == 'one_hot_and_ordinal' or
        (discrete_action_encoding == 'auto' and self._action_space.ordered))
    self._layer_norm = layer_norm
    self._state_value_head = state_value_head
    self._activation_fn = activation_fn
    self._max_rows_per_scoring_pass = max_rows_per_scoring_pass
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
    self._observation_normalizer = (
        _make_observation_normalizer(observation_spec, name) if normalize_observations
        else None)
    self._setup_head(tuple(head_fc_layer_params), init)

  def _setup_head(self, widths: Sequence[int], init) -> None:
    """First head layer split into a state part and an action part; then an MLP; then Q."""
    self._state_projection = tf.keras.layers.Dense(
        widths[0], kernel_initializer=init, name='head_state_projection')
    self._action_projection = tf.keras.layers.Dense(
        widths[0], use_bias=False, kernel_initializer=init, name='head_action_projection')
    self._first_norm = self._make_norm('head_norm_1')
    self._head_layers = []
    for i, width in enumerate(widths[1:]):
      self._head_layers.append(tf.keras.layers.Dense(
          width, activation=None if self._layer_norm else self._activation_fn,
          kernel_initializer=init, name=f'head_dense_{i + 1}'))
      if self._layer_norm:
        self._head_layers += [self._make_norm(f'head_norm_{i + 2}'),
                              tf.keras.layers.Activation(self._activation_fn)]
    self._q_layer = tf.keras.layers.Dense(1, kernel_initializer=init, name='q_value')
    self._value_layer = (tf.keras.layers.Dense(1, kernel_initializer=init, name='state_value')
                         if self._state_value_head else None)
    # Built here: `score` reads the action kernels without calling the layers.
    space = self._action_space
    self._action_projection.build(tf.TensorShape([None, space.feature_size]))
    if space.is_discrete:
      self._row_offsets = tf.constant(
          np.arange(space.num_dims) * space.max_num_values, tf.int32)  # [D]
    if self._ordinal:
      self._ordinal_projection = tf.keras.layers.Dense(
          widths[0], use_bias=False, kernel_initializer=init, name='head_action_ordinal')
      self._ordinal_projection.build(tf.TensorShape([None, space.num_dims]))
      self._ordinal_levels = tf.constant(space.ordinal_values().reshape([-1, 1]))  # [D*V, 1]

  def _make_norm(self, name: str) -> Optional[tf.keras.layers.Layer]:
    return tf.keras.layers.LayerNormalization(name=name) if self._layer_norm else None

  def _action_kernel(self) -> tf.Tensor:
    """W_a [F, H]. For ordinal encoding, row d*V + v of the one-hot kernel plus u_d(v) times
    the sub-action's ordinal row w_d: one-hot features times this kernel are the one-hot plus
    ordinal encoding's first layer."""
    kernel = self._action_projection.kernel  # [F, H]
    if not self._ordinal:
      return kernel
    ordinal_rows = tf.repeat(self._ordinal_projection.kernel, self._action_space.max_num_values,
                             axis=0)  # [D*V, H]
    return kernel + self._ordinal_levels * ordinal_rows

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
    if self._observation_normalizer is not None:
      observation = self._observation_normalizer.normalize(observation, clip_value=5.0)
    state_embedding, _ = self._torso(observation, step_type=step_type, training=training)
    return state_embedding

  def update_observation_statistics(self, observation: types.NestedTensor) -> tf.Operation:
    """Adds a batch of observations [B, ...] to the running statistics `embed` normalizes
    with; a no-op without `normalize_observations`."""
    if self._observation_normalizer is None:
      return tf.no_op()
    return self._observation_normalizer.update(observation, outer_dims=(0,))

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
    sizes = self._pass_sizes(candidate_actions)
    if len(sizes) == 1:
      q_values = self._score_pass(state_part, candidate_actions, training)  # [B, K]
    else:
      parts = tf.split(candidate_actions, sizes, axis=1)  # [B, K_i, D] each
      q_values = tf.concat([self._score_pass(state_part, part, training) for part in parts],
                           axis=1)  # [B, K]
    if self._value_layer is None:
      return q_values
    return q_values + self._value_layer(state_embedding, training=training)  # + [B, 1]

  def _pass_sizes(self, candidate_actions: tf.Tensor) -> List[int]:
    """Candidates per state of each scoring pass: [K] (one pass) unless B and K are static
    and B x K exceeds `max_rows_per_scoring_pass`; then near-equal sizes summing to K."""
    batch_size, num_candidates = candidate_actions.shape[0], candidate_actions.shape[1]
    limit = self._max_rows_per_scoring_pass
    if limit is None or batch_size is None or num_candidates is None or (
        batch_size * num_candidates <= limit):
      return [num_candidates]
    num_passes = min(num_candidates, -(-batch_size * num_candidates // limit))
    base, extra = divmod(num_candidates, num_passes)
    return [base + 1] * extra + [base] * (num_passes - extra)

  def _score_pass(self, state_part: tf.Tensor, candidate_actions: tf.Tensor,
                  training: bool) -> tf.Tensor:
    """One scoring pass: state_part [B, H], candidates [B, K, D] -> [B, K]."""
    if self._action_space.is_discrete:
      hidden = self._gathered_first_layer(state_part, candidate_actions)  # [B, K, H]
    else:
      hidden = self._dense_first_layer(state_part, candidate_actions)  # [B, K, H]
    if self._layer_norm:  # the first layer returned its pre-activation
      hidden = self._activation_fn(self._first_norm(hidden, training=training))
    return self._head(hidden, training)

  @property
  def _first_activation(self) -> Callable[[tf.Tensor], tf.Tensor]:
    """The activation the first layer applies itself (none when a LayerNorm comes first)."""
    return tf.identity if self._layer_norm else self._activation_fn

  def _gathered_first_layer(self, state_part: tf.Tensor,
                            candidate_actions: tf.Tensor) -> tf.Tensor:
    """act(W_s e + b + W_a phi(a_k)) for discrete actions, W_a phi(a_k) as a sum of D rows of
    W_a: state_part [B, H], candidates [B, K, D] -> [B, K, H] (no act with layer_norm)."""
    rows = candidate_actions + self._row_offsets  # [B, K, D], rows of W_a
    first_layer = _compiled_gathered_first_layer(self._first_activation)
    return first_layer(self._action_kernel(), rows, state_part)

  def _dense_first_layer(self, state_part: tf.Tensor, candidate_actions: tf.Tensor) -> tf.Tensor:
    """act(W_s e + b + W_a phi(a_k)) as a matmul of the features phi: state_part [B, H],
    candidates [B, K, D] -> [B, K, H] (no act with layer_norm). The path of continuous actions
    (and, for discrete ones, the one-hot reference of `_gathered_first_layer`)."""
    batch_size = tf.shape(candidate_actions)[0]
    num_candidates = tf.shape(candidate_actions)[1]
    features = self._action_space.features(candidate_actions)  # [B, K, F]
    flat_features = tf.reshape(features, [-1, self._action_space.feature_size])  # [B*K, F]
    action_part = tf.matmul(flat_features, self._action_kernel())  # [B*K, H]
    hidden = tf.reshape(action_part, [batch_size, num_candidates, tf.shape(action_part)[-1]])
    return self._first_activation(hidden + state_part[:, tf.newaxis, :])  # [B, K, H]

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


def _make_observation_normalizer(observation_spec: types.NestedTensorSpec,
                                 name: str) -> tensor_normalizer.StreamingTensorNormalizer:
  """TF-Agents' streaming mean/variance normalizer of float observations."""
  specs = tf.nest.flatten(observation_spec)
  if not all(spec.dtype.is_floating for spec in specs):
    raise ValueError('CriticNetwork.normalize_observations needs float observations, but the '
                     f'observation spec is {observation_spec}; set it to False for integer '
                     '(e.g. Discrete) observations.')
  return tensor_normalizer.StreamingTensorNormalizer(observation_spec,
                                                     scope=f'{name}_observation_normalizer')


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
