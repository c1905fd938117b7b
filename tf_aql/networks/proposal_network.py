"""The AQL proposal distribution mu(a|s): autoregressive over sub-actions, built from TFP.

Amortized Q-Learning (Van de Wiele, Warde-Farley, Mnih & Mnih, 2020, arXiv 2001.08116) finds
`argmax_a Q(s, a)` over a few candidates, N of them drawn from a learned proposal

  mu(a | s) = prod_{d=1..D} mu_d(a_d | s, a_<d),

trained towards the best action found by the search (the proposal loss
`-log mu(a*|s) - lambda * H(mu(.|s))`, see `tf_aql.agents.losses`). This module implements mu.

Parameterization (H = `hidden_size`, P = parameters per sub-action, V = `max_num_values`).
The proposal reads the state embedding `e(s)` [E] of the critic's shared torso.

  c_1     = W_s e(s) + b_s                                   context, once per state   [H]
  h_d     = relu(c_d)                                                                 [H]
  theta_d = h_d K_d + k_d          K [D, H, P], k [D, P]: one small head per sub-action [P]
  c_{d+1} = c_d + embed_d(a_d)                                                        [H]

so theta_d depends on e(s) and on every a_<d (c_d = c_1 + sum_{k<d} embed_k(a_k)).
`autoregressive=False` (the factorized ablation) drops the embeddings: c_d = c_1 for all d.

- Discrete sub-action d (`num_values[d]` values, V = max over d): theta_d are V logits, those of
  the values `>= num_values[d]` replaced by -1e9 (probability exactly 0 in float32);
  `mu_d = Categorical(theta_d)`; embed_d(a_d) = G[d, a_d] with a learned table G [D-1, V, H].
- Continuous sub-action d in [low_d, high_d]: theta_d = (m_d, log sigma_d), log sigma_d clipped
  to [min_log_std, max_log_std]; a tanh-squashed Gaussian mapped affinely onto the bounds:

    x_d ~ Normal(m_d, sigma_d),   u_d = tanh(x_d) in [-1, 1],
    a_d = low_d + (u_d + 1) (high_d - low_d) / 2,
    log mu_d(a_d) = log Normal(atanh(u_d); m_d, sigma_d) - log(1 - u_d^2) - log((high_d - low_d) / 2).

  embed_d(a_d) = u_d g_d with a learned g [D-1, H]. Samples never leave [low_d, high_d] (a final
  clip absorbs float rounding). `log_prob` of an action on a bound (uniform candidates, clipped
  actions) would be -inf (atanh(+-1)), so it first clips u_d into [-1 + 1e-6, 1 - 1e-6]: the
  log-density of a bound is that of a point 1e-6 (in unit scale) inside it, finite.

Costs. Sampling n actions for B states is D sequential steps over one [n*B, H] batch (reshaped
once); each step is a relu, an [n*B, H] x [H, P] matmul, one Categorical or Normal draw and an
embedding gather/outer-product. `log_prob` uses teacher forcing: with the actions known, all
contexts are `c_1 + cumsum` of their embeddings, and all heads run in one einsum (no loop over D).

Entropy. H(mu(.|s)) has no closed form; `entropy()` returns an unbiased single-sample estimate
from the chain rule H(mu) = sum_d E_{a_<d ~ mu}[H(mu_d(.|s, a_<d))], along one sampled prefix:
- discrete: the exact Categorical entropy of every mu_d along the prefix;
- continuous: per dimension the exact Gaussian entropy plus a single-sample (reparameterized)
  change-of-variables term, H(mu_d) = H(Normal(m_d, sigma_d)) + E_x[log(1 - tanh(x)^2)]
  + log((high_d - low_d) / 2). This is the Rao-Blackwellized form of -log mu(a) (same mean,
  lower variance), and its gradient is the reparameterized gradient of the entropy.
The sampled prefix itself is not differentiated (discrete: no score-function term), so for
autoregressive discrete proposals the gradient is that of sum_d H(mu_d) at the sampled prefix
(exact for `autoregressive=False`).
"""

from typing import Optional, Tuple

import gin
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.networks import network
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace

tfd = tfp.distributions
tfb = tfp.bijectors

# log_prob clips continuous actions, scaled to [-1, 1], into [-1 + eps, 1 - eps].
UNIT_EPS = 1e-6
# Logit of the values a discrete sub-action cannot take (its num_values < max_num_values).
MASKED_LOGIT = -1e9
# Heads start small so the initial proposal is close to uniform (discrete) or to
# tanh(Normal(0, 1)) (continuous).
_HEAD_INIT_STDDEV = 0.01
_EMBEDDING_INIT_STDDEV = 0.1


class AutoregressiveProposal(tfd.Distribution):
  """mu(a|s) = prod_d mu_d(a_d | s, a_<d); batch shape [B], event shape [D].

  Built by `ProposalNetwork.call`; see the module docstring for the math. Samples are internal
  actions (see `ActionSpace`): int32 indices for discrete spaces, float32 in [low, high] for
  continuous ones.
  """

  def __init__(self,
               context: types.Tensor,
               head_kernel: types.Tensor,
               head_bias: types.Tensor,
               action_embedding: Optional[types.Tensor],
               action_space: ActionSpace,
               min_log_std: float = -5.,
               max_log_std: float = 2.,
               validate_args: bool = False,
               allow_nan_stats: bool = True,
               name: str = 'AutoregressiveProposal'):
    """Creates the distribution.

    Args:
      context: [B, H] float32, c_1 per state.
      head_kernel: [D, H, P] float32, K (P = max_num_values discrete, 2 continuous).
      head_bias: [D, P] float32, k.
      action_embedding: None (factorized, or D = 1), else the embeddings of a_1 .. a_{D-1}:
        [D-1, V, H] (discrete) or [D-1, H] (continuous).
      action_space: the `ActionSpace` of the actions.
      min_log_std, max_log_std: clip range of log sigma_d (continuous only).
      validate_args: if True, `log_prob` checks that discrete actions are in range.
      allow_nan_stats: passed to `tfd.Distribution`.
      name: name scope of the distribution's ops.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._action_space = action_space
      self._num_dims = action_space.num_dims
      self._context = tf.convert_to_tensor(context, tf.float32, name='context')
      self._head_kernel = tf.convert_to_tensor(head_kernel, tf.float32, name='head_kernel')
      self._head_bias = tf.convert_to_tensor(head_bias, tf.float32, name='head_bias')
      self._action_embedding = (
          None if action_embedding is None else
          tf.convert_to_tensor(action_embedding, tf.float32, name='action_embedding'))
      self._min_log_std = min_log_std
      self._max_log_std = max_log_std
      if action_space.is_discrete:
        num_values = action_space.num_values
        self._num_values = action_space.max_num_values
        self._valid_values = (  # [D, V] bool, or None if every sub-action has V values.
            None if np.all(num_values == self._num_values) else
            np.arange(self._num_values)[np.newaxis, :] < num_values[:, np.newaxis])
        reparameterization_type = tfd.NOT_REPARAMETERIZED
      else:
        self._center = (0.5 * (action_space.low + action_space.high)).astype(np.float32)  # [D]
        self._half_range = (0.5 * (action_space.high - action_space.low)).astype(np.float32)
        reparameterization_type = tfd.FULLY_REPARAMETERIZED
      super().__init__(dtype=action_space.dtype,
                       reparameterization_type=reparameterization_type,
                       validate_args=validate_args,
                       allow_nan_stats=allow_nan_stats,
                       parameters=parameters,
                       name=name)

  @property
  def action_space(self) -> ActionSpace:
    return self._action_space

  @property
  def autoregressive(self) -> bool:
    return self._action_embedding is not None

  # --- shapes ------------------------------------------------------------------------------

  def _batch_shape(self) -> tf.TensorShape:
    return self._context.shape[:-1]

  def _batch_shape_tensor(self) -> tf.Tensor:
    return tf.shape(self._context)[:-1]

  def _event_shape(self) -> tf.TensorShape:
    return tf.TensorShape([self._num_dims])

  def _event_shape_tensor(self) -> tf.Tensor:
    return tf.constant([self._num_dims], tf.int32)

  # --- public methods beyond tfd.Distribution ----------------------------------------------

  def greedy_action(self) -> tf.Tensor:
    """The per-step modes along the greedy prefix, [B, D].

    Discrete: a_d = argmax mu_d(.|s, a_<d); continuous: a_d = the affine map of tanh(m_d).
    This is not the joint mode of mu (which has no cheap form), only a deterministic action.
    """
    actions, _, _ = self._rollout(1, seed=None, greedy=True)
    return actions[0]

  # --- tfd.Distribution hooks --------------------------------------------------------------

  def _sample_n(self, n: types.Int, seed: Optional[types.Seed] = None) -> tf.Tensor:
    """[n, B, D] samples: D sequential steps over all n*B (sample, state) pairs."""
    actions, _, _ = self._rollout(n, seed)
    return actions

  def _sample_and_log_prob(self, sample_shape: types.Shape, seed: Optional[types.Seed],
                           **kwargs) -> Tuple[tf.Tensor, tf.Tensor]:
    """Samples [*sample_shape, B, D] and their log-probabilities [*sample_shape, B].

    The log-probabilities come from the sampling steps themselves (continuous: from the
    pre-tanh Gaussian draws, without the atanh of `log_prob`), at no extra pass.
    """
    sample_shape = tf.reshape(tf.cast(sample_shape, tf.int32), [-1])
    actions, log_probs, _ = self._rollout(tf.reduce_prod(sample_shape), seed, with_stats=True)
    batch_shape = self.batch_shape_tensor()
    actions = tf.reshape(actions, tf.concat([sample_shape, batch_shape, [self._num_dims]], 0))
    log_probs = tf.reshape(log_probs, tf.concat([sample_shape, batch_shape], 0))
    return actions, log_probs

  def _log_prob(self, actions: types.Tensor) -> tf.Tensor:
    """Exact log mu(a|s) of actions [..., B, D] -> [..., B], teacher-forced (no loop over D)."""
    actions = tf.convert_to_tensor(actions, self.dtype)  # [..., B, D]
    if self.validate_args and self._action_space.is_discrete:
      actions = self._assert_in_range(actions)
    params = self._teacher_forced_params(actions)  # [..., B, D, P] or [B, D, P]
    if self._action_space.is_discrete:
      step_log_probs = tfd.Categorical(logits=self._mask(params)).log_prob(actions)  # [..., B, D]
    else:
      unit = tf.clip_by_value(self._action_space.scale_to_unit(actions),
                              -1. + UNIT_EPS, 1. - UNIT_EPS)  # [..., B, D]
      step_log_probs = (self._unit_distribution(params).log_prob(unit)
                        - np.log(self._half_range))  # [..., B, D]
    return tf.reduce_sum(step_log_probs, axis=-1)  # [..., B]

  def _entropy(self, seed: Optional[types.Seed] = None) -> tf.Tensor:
    """Unbiased single-sample estimate of H(mu(.|s)), [B]; see the module docstring."""
    _, _, entropies = self._rollout(1, seed, with_stats=True)
    return entropies[0]

  # --- internals ---------------------------------------------------------------------------

  def _rollout(self, n: types.Int, seed: Optional[types.Seed], greedy: bool = False,
               with_stats: bool = False) -> Tuple[tf.Tensor, Optional[tf.Tensor],
                                                  Optional[tf.Tensor]]:
    """Draws n actions per state, one sub-action at a time.

    Args:
      n: number of samples per state (int or scalar int tensor).
      seed: a TFP seed (None, int or stateless int32 [2]); split into one seed per step.
      greedy: take the mode of every mu_d instead of a draw.
      with_stats: also return log-probabilities and entropy estimates.

    Returns:
      (actions [n, B, D], log_probs [n, B] or None, entropy estimates [n, B] or None).
    """
    space = self._action_space
    batch_shape = tf.shape(self._context)[:-1]
    hidden_size = tf.shape(self._context)[-1]
    outer_shape = tf.concat([[n], batch_shape], axis=0)  # [n, B]
    context = tf.reshape(  # [N, H] with N = n * B
        tf.broadcast_to(self._context, tf.concat([outer_shape, [hidden_size]], axis=0)),
        [-1, hidden_size])
    step_seeds = tfp.random.split_seed(seed, n=self._num_dims, salt='AutoregressiveProposal')
    actions, log_probs, entropies = [], [], []
    for d in range(self._num_dims):
      hidden = tf.nn.relu(context)  # [N, H]
      params = tf.matmul(hidden, self._head_kernel[d]) + self._head_bias[d]  # [N, P]
      if space.is_discrete:
        step = tfd.Categorical(logits=self._mask(params, d), dtype=tf.int32)
        action = (tf.argmax(step.logits, axis=-1, output_type=tf.int32) if greedy else
                  step.sample(seed=step_seeds[d]))  # [N]
        if with_stats:
          log_probs.append(step.log_prob(action))
          entropies.append(step.entropy())
      else:
        normal = self._normal(params)
        pre_tanh = normal.loc if greedy else normal.sample(seed=step_seeds[d])  # [N]
        unit = tf.tanh(pre_tanh)  # [N]
        action = tf.clip_by_value(
            self._center[d] + self._half_range[d] * unit, space.low[d], space.high[d])  # [N]
        if with_stats:
          log_det = tfb.Tanh().forward_log_det_jacobian(pre_tanh, event_ndims=0)  # [N]
          log_det += np.log(self._half_range[d])
          log_probs.append(normal.log_prob(pre_tanh) - log_det)
          entropies.append(normal.entropy() + log_det)
      actions.append(action)
      if self.autoregressive and d < self._num_dims - 1:
        if space.is_discrete:
          embedding = tf.gather(self._action_embedding[d], action)  # [N, H]
        else:
          embedding = unit[:, tf.newaxis] * self._action_embedding[d]  # [N, H]
        context = context + embedding  # [N, H]
    actions = tf.reshape(tf.stack(actions, axis=-1),
                         tf.concat([outer_shape, [self._num_dims]], axis=0))  # [n, B, D]
    if not with_stats:
      return actions, None, None
    log_probs = tf.reshape(tf.add_n(log_probs), outer_shape)  # [n, B]
    entropies = tf.reshape(tf.add_n(entropies), outer_shape)  # [n, B]
    return actions, log_probs, entropies

  def _teacher_forced_params(self, actions: tf.Tensor) -> tf.Tensor:
    """Head outputs theta_d for known actions [..., B, D] -> [..., B, D, P] ([B, D, P] if
    factorized: they do not depend on the actions then)."""
    if not self.autoregressive:
      hidden = tf.nn.relu(self._context)  # [B, H]
      return tf.einsum('...h,dhp->...dp', hidden, self._head_kernel) + self._head_bias
    embeddings = self._embed(actions)  # [..., B, D-1, H], embed_k(a_k) for k < D
    prefix_sums = tf.cumsum(embeddings, axis=-2)  # [..., B, D-1, H]
    prefix_sums = tf.concat([tf.zeros_like(prefix_sums[..., :1, :]), prefix_sums],
                            axis=-2)  # [..., B, D, H]: sum_{k<d} embed_k(a_k)
    hidden = tf.nn.relu(self._context[..., tf.newaxis, :] + prefix_sums)  # [..., B, D, H]
    return tf.einsum('...dh,dhp->...dp', hidden, self._head_kernel) + self._head_bias

  def _embed(self, actions: tf.Tensor) -> tf.Tensor:
    """Embeddings of the sub-actions a_1 .. a_{D-1} of actions [..., D] -> [..., D-1, H]."""
    if self._action_space.is_discrete:
      num_embedded, num_values, hidden_size = self._action_embedding.shape
      table = tf.reshape(self._action_embedding, [num_embedded * num_values, hidden_size])
      rows = actions[..., :-1] + tf.range(num_embedded, dtype=tf.int32) * num_values
      return tf.gather(table, rows)  # [..., D-1, H]
    unit = self._action_space.scale_to_unit(actions)[..., :-1]  # [..., D-1]
    return unit[..., tf.newaxis] * self._action_embedding  # [..., D-1, H]

  def _mask(self, logits: tf.Tensor, dim: Optional[int] = None) -> tf.Tensor:
    """Sets logits of unavailable values to MASKED_LOGIT.

    Args:
      logits: [..., D, V] (all dimensions; dim None) or [..., V] (dimension `dim`).
    """
    if self._valid_values is None:
      return logits
    valid = self._valid_values if dim is None else self._valid_values[dim]
    return tf.where(valid, logits, MASKED_LOGIT)

  def _normal(self, params: tf.Tensor) -> tfd.Normal:
    """Normal(m, sigma) from head outputs [..., 2] (mean, log std)."""
    log_std = tf.clip_by_value(params[..., 1], self._min_log_std, self._max_log_std)
    return tfd.Normal(loc=params[..., 0], scale=tf.exp(log_std))

  def _unit_distribution(self, params: tf.Tensor) -> tfd.Distribution:
    """The tanh-squashed Gaussian on [-1, 1] from head outputs [..., 2]."""
    return tfd.TransformedDistribution(self._normal(params), tfb.Tanh())

  def _assert_in_range(self, actions: tf.Tensor) -> tf.Tensor:
    upper = tf.constant(self._action_space.num_values, tf.int32)  # [D]
    with tf.control_dependencies([
        tf.debugging.assert_non_negative(actions, message='negative discrete action'),
        tf.debugging.assert_less(actions, upper, message='discrete action >= num_values')]):
      return tf.identity(actions)


@gin.configurable
class ProposalNetwork(network.Network):
  """Maps a state embedding [B, E] to the proposal `AutoregressiveProposal` mu(.|s).

  The state embedding is the output of the critic's shared state torso; this network only owns
  the proposal's own layers: the context layer (W_s, b_s), the per-sub-action heads (K, k) and,
  if autoregressive, the sub-action embeddings (G or g). See the module docstring.
  """

  def __init__(self,
               action_spec: types.BoundedTensorSpec,
               state_embedding_size: int,
               hidden_size: int = 256,
               autoregressive: bool = True,
               min_log_std: float = -5.,
               max_log_std: float = 2.,
               name: str = 'ProposalNetwork'):
    """Creates the network.

    Args:
      action_spec: the TF-Agents action spec (Discrete, MultiDiscrete or bounded Box).
      state_embedding_size: E, the width of the state embedding the network reads.
      hidden_size: H, the width of the context c_d.
      autoregressive: if False, every sub-action reads c_1 only (the factorized ablation).
      min_log_std, max_log_std: clip range of the Gaussian log std (continuous spaces).
      name: the network's name.

    Raises:
      ValueError: for a non-positive size or an empty log-std range.
      UnsupportedActionSpecError: for an action spec tf_aql cannot handle.
    """
    if state_embedding_size <= 0 or hidden_size <= 0:
      raise ValueError(f'ProposalNetwork needs positive sizes; got state_embedding_size='
                       f'{state_embedding_size}, hidden_size={hidden_size}.')
    if not min_log_std < max_log_std:
      raise ValueError(f'ProposalNetwork needs min_log_std < max_log_std; got {min_log_std} '
                       f'and {max_log_std}.')
    super().__init__(input_tensor_spec=tf.TensorSpec([state_embedding_size], tf.float32),
                     state_spec=(), name=name)
    self._action_space = ActionSpace(action_spec)
    self._hidden_size = hidden_size
    self._autoregressive = autoregressive
    self._min_log_std = float(min_log_std)
    self._max_log_std = float(max_log_std)
    self._setup_context()
    self._setup_heads()
    self._setup_embedding()

  def _setup_context(self):
    self._context_layer = tf.keras.layers.Dense(self._hidden_size, name='context')

  def _setup_heads(self):
    space = self._action_space
    num_params = space.max_num_values if space.is_discrete else 2
    self.head_kernel = self.add_weight(
        name='head_kernel', shape=[space.num_dims, self._hidden_size, num_params],
        initializer=tf.keras.initializers.TruncatedNormal(stddev=_HEAD_INIT_STDDEV))
    self.head_bias = self.add_weight(
        name='head_bias', shape=[space.num_dims, num_params], initializer='zeros')

  def _setup_embedding(self):
    space = self._action_space
    self.action_embedding = None
    if not self._autoregressive or space.num_dims == 1:
      return  # No sub-action has a successor to condition.
    shape = ([space.num_dims - 1, space.max_num_values, self._hidden_size] if space.is_discrete
             else [space.num_dims - 1, self._hidden_size])
    self.action_embedding = self.add_weight(
        name='action_embedding', shape=shape,
        initializer=tf.keras.initializers.TruncatedNormal(stddev=_EMBEDDING_INIT_STDDEV))

  @property
  def action_space(self) -> ActionSpace:
    return self._action_space

  @property
  def context_layer(self) -> tf.keras.layers.Dense:
    """The Dense layer computing c_1 = W_s e(s) + b_s."""
    return self._context_layer

  @property
  def autoregressive(self) -> bool:
    return self._autoregressive

  def call(self,
           state_embedding: types.Tensor,
           step_type: Optional[types.Tensor] = None,
           network_state: types.NestedTensor = (),
           training: bool = False) -> Tuple[AutoregressiveProposal, types.NestedTensor]:
    """Returns (mu(.|s) with batch shape [B] and event shape [D], network_state).

    Args:
      state_embedding: [B, E] float32, the critic torso's output.
      step_type: unused.
      network_state: unused (the network is stateless).
      training: unused.
    """
    del step_type, training
    context = self._context_layer(tf.cast(state_embedding, tf.float32))  # [B, H]
    embedding = (None if self.action_embedding is None
                 else tf.convert_to_tensor(self.action_embedding))
    proposal = AutoregressiveProposal(
        context=context,
        head_kernel=tf.convert_to_tensor(self.head_kernel),
        head_bias=tf.convert_to_tensor(self.head_bias),
        action_embedding=embedding,
        action_space=self._action_space,
        min_log_std=self._min_log_std,
        max_log_std=self._max_log_std)
    return proposal, network_state
