"""The AQL proposal distribution mu(a|s): autoregressive over sub-actions, built from TFP.

Amortized Q-Learning (Van de Wiele, Warde-Farley, Mnih & Mnih, 2020, arXiv 2001.08116) finds
`argmax_a Q(s, a)` over a few candidates, N of them drawn from a learned proposal

  mu(a | s) = prod_{d=1..D} mu_d(a_d | s, a_<d),

trained towards the best action found by the search (the proposal loss
`-log mu(a*|s) - lambda * H(mu(.|s))`, see `tf_aql.agents.losses`). This module implements mu.

Parameterization (H = `hidden_size`, A = `prefix_size`, P = parameters per sub-action,
V = `max_num_values`). The proposal reads the state embedding `e(s)` [E] of the critic's shared
torso. Two streams: a wide one that depends on the state only, computed once per state, and a
narrow one that carries the sampled prefix a_<d, computed once per sample:

  h       = relu(W_s e(s) + b_s)                     per state                       [H]
  l_d     = h K_d + k_d                              per state, all d at once        [P]
  u_d     = h U_d + v_d            (d >= 2)          per state, all d at once        [A]
  r_d     = sum_{k<d} embed_k(a_k)                   per sample (the prefix)         [A]
  theta_1 = l_1
  theta_d = l_d + relu(u_d + r_d) J_d                (d >= 2)                        [P]

K [D, H, P], k [D, P], U [D-1, H, A], v [D-1, A], J [D-1, A, P]. theta_d depends on e(s) and
on every a_<d; the state and the prefix interact through the relu. `autoregressive=False` (the
factorized ablation) drops the prefix stream: theta_d = l_d.

- Discrete sub-action d (`num_values[d]` values, V = max over d): theta_d are V logits, those of
  the values `>= num_values[d]` replaced by -1e9 (probability exactly 0 in float32);
  `mu_d = Categorical(theta_d)`; embed_d(a_d) = G[d, a_d] with a learned table G [D-1, V, A].
- Continuous sub-action d in [low_d, high_d]: theta_d = (m_d, log sigma_d), log sigma_d clipped
  to [min_log_std, max_log_std]; a tanh-squashed Gaussian mapped affinely onto the bounds:

    x_d ~ Normal(m_d, sigma_d),   u_d = tanh(x_d) in [-1, 1],
    a_d = low_d + (u_d + 1) (high_d - low_d) / 2,
    log mu_d(a_d) = log Normal(atanh(u_d); m_d, sigma_d) - log(1 - u_d^2) - log((high_d - low_d) / 2).

  embed_d(a_d) = u_d g_d with a learned g [D-1, A]. Samples never leave [low_d, high_d] (a final
  clip absorbs float rounding). `log_prob` of an action on a bound (uniform candidates, clipped
  actions) would be -inf (atanh(+-1)), so it first clips u_d into [-1 + 1e-6, 1 - 1e-6]: the
  log-density of a bound is that of a point 1e-6 (in unit scale) inside it, finite.

- Hybrid spaces (`ActionSpace.is_hybrid`, e.g. a gymnasium Dict of a MultiDiscrete and a Box):
  each step is discrete or continuous as above, P = max(V, 2) (a continuous step reads the first
  two of its P parameters), the embedding table is G [D-1, V, A] and a continuous step embeds as
  u_d G[d, 0]. The steps run in the order `hybrid_order` chooses ('discrete_first': every
  discrete sub-action, then every continuous one, each conditioned on all drawn before it); the
  distribution permutes actions into that order for `log_prob` and back after sampling.

Costs. Sampling n actions for B states runs the wide stream once on [B, H] (two einsums), then D
sequential steps over [n, B, A]: a relu, an [n*B, A] x [A, P] matmul, a draw from noise drawn
for all steps at once (one number per sample and step) and an embedding gather. Discrete draws
invert the cumulative distribution: with w_v = exp(theta_d[v] - max theta_d), c_v = sum_{k<=v} w_k
and u ~ U[0, 1), a_d = #{v : c_v <= u c_{V-1}}, an exact Categorical draw that needs one uniform
number per draw (Gumbel-max needs V of them and two logarithms each, which measured half the cost
of sampling); float rounding that puts u c_{V-1} on c_{V-1} (probability < 2^-24) is clamped to
the last value the sub-action has. Continuous draws are m_d + sigma_d z with z ~ Normal(0, 1).
The first sub-action's parameters are the same for all n samples of a state: [B, P], broadcast. `log_prob` uses teacher forcing: with the actions known, every r_d is a
cumsum of their embeddings and all steps run in one einsum (no loop over D).

Entropy. H(mu(.|s)) has no closed form; `entropy()` returns an unbiased single-sample estimate
from the chain rule H(mu) = sum_d E_{a_<d ~ mu}[H(mu_d(.|s, a_<d))], along one sampled prefix
(`log_prob_and_entropy_along` computes the same estimate, teacher-forced, along a prefix drawn
before, e.g. by the search):
- discrete: the exact Categorical entropy of every mu_d along the prefix;
- continuous: per dimension the exact Gaussian entropy plus a single-sample (reparameterized)
  change-of-variables term, H(mu_d) = H(Normal(m_d, sigma_d)) + E_x[log(1 - tanh(x)^2)]
  + log((high_d - low_d) / 2). This is the Rao-Blackwellized form of -log mu(a) (same mean,
  lower variance), and its gradient is the reparameterized gradient of the entropy.
The sampled prefix itself is not differentiated (discrete: no score-function term; continuous:
`entropy()` differentiates the prefix's reparameterized draws, `log_prob_and_entropy_along`
holds a given prefix fixed), so for autoregressive proposals the gradient is that of
sum_d H(mu_d) at the sampled prefix (exact for `autoregressive=False`).
"""

import functools
from typing import Optional, Sequence, Tuple

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
# ProposalNetwork.hybrid_order values.
HYBRID_ORDERS = ('discrete_first', 'continuous_first', 'spec')
_EMBEDDING_INIT_STDDEV = 0.1


class AutoregressiveProposal(tfd.Distribution):
  """mu(a|s) = prod_d mu_d(a_d | s, a_<d); batch shape [B], event shape [D].

  Built by `ProposalNetwork.call`; see the module docstring for the math. Samples are internal
  actions (see `ActionSpace`): int32 indices for discrete spaces, float32 in [low, high] for
  continuous ones.
  """

  def __init__(self,
               state_params: types.Tensor,
               prefix_state: Optional[types.Tensor],
               action_embedding: Optional[types.Tensor],
               prefix_head_kernel: Optional[types.Tensor],
               action_space: ActionSpace,
               min_log_std: float = -5.,
               max_log_std: float = 2.,
               order: Optional[Sequence[int]] = None,
               validate_args: bool = False,
               allow_nan_stats: bool = True,
               name: str = 'AutoregressiveProposal'):
    """Creates the distribution.

    Args:
      state_params: [B, D, P] float32, l_d (P = max_num_values discrete, 2 continuous).
      prefix_state: [B, D-1, A] float32, u_d for d = 2..D; None if factorized (or D = 1).
      action_embedding: the embeddings of a_1 .. a_{D-1}: [D-1, V, A] (discrete, hybrid) or
        [D-1, A] (continuous); None if factorized.
      prefix_head_kernel: [D-1, A, P] float32, J; None if factorized.
      action_space: the `ActionSpace` of the actions.
      min_log_std, max_log_std: clip range of log sigma_d (continuous only).
      order: the autoregressive order, [D]: step d draws the sub-action order[d] of the
        internal action (`ActionSpace`); the params above are in this order. None: 0 .. D-1.
      validate_args: if True, `log_prob` checks that discrete actions are in range.
      allow_nan_stats: passed to `tfd.Distribution`.
      name: name scope of the distribution's ops.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      self._action_space = action_space
      self._num_dims = action_space.num_dims
      self._state_params = tf.convert_to_tensor(state_params, tf.float32, name='state_params')
      self._autoregressive = prefix_state is not None
      self._prefix_state = self._action_embedding = self._prefix_head_kernel = None
      if self._autoregressive:
        self._prefix_state = tf.convert_to_tensor(prefix_state, tf.float32,
                                                  name='prefix_state')
        self._action_embedding = tf.convert_to_tensor(action_embedding, tf.float32,
                                                      name='action_embedding')
        self._prefix_head_kernel = tf.convert_to_tensor(prefix_head_kernel, tf.float32,
                                                        name='prefix_head_kernel')
      self._min_log_std = min_log_std
      self._max_log_std = max_log_std
      self._setup_order(action_space, order)
      if action_space.is_discrete:
        reparameterization_type = tfd.NOT_REPARAMETERIZED
      elif action_space.is_hybrid:
        reparameterization_type = tfd.NOT_REPARAMETERIZED
      else:
        reparameterization_type = tfd.FULLY_REPARAMETERIZED
      super().__init__(dtype=action_space.dtype,
                       reparameterization_type=reparameterization_type,
                       validate_args=validate_args,
                       allow_nan_stats=allow_nan_stats,
                       parameters=parameters,
                       name=name)

  def _setup_order(self, space: ActionSpace, order: Optional[Sequence[int]]) -> None:
    """The per-step constants, all in the autoregressive order (step d, sub-action order[d]):
    which steps are discrete, their last values, the valid-logit mask and the affine map of
    continuous steps from [-1, 1] to their bounds (identity on discrete steps)."""
    order = np.arange(space.num_dims) if order is None else np.asarray(order, np.int64)
    if sorted(order.tolist()) != list(range(space.num_dims)):
      raise ValueError(f'order must be a permutation of 0 .. {space.num_dims - 1}; got '
                       f'{order.tolist()}.')
    self._order = None if np.all(order == np.arange(space.num_dims)) else order
    self._inverse_order = None if self._order is None else np.argsort(order)
    discrete = space.is_discrete_dim[order]  # [D]
    self._discrete_steps = discrete
    self._hybrid = space.is_hybrid
    self._last_values = tuple(int(space.num_values[i]) - 1 if discrete[d] else None
                              for d, i in enumerate(order))
    self._valid_values = None  # [D, P] bool, or None if every logit is valid.
    if space.is_discrete or space.is_hybrid:
      num_values = space.num_values[order]
      num_params = space.max_num_values if space.is_discrete else max(space.max_num_values, 2)
      valid = ((np.arange(num_params)[np.newaxis, :] < num_values[:, np.newaxis])
               | ~discrete[:, np.newaxis])
      self._valid_values = None if valid.all() else valid
    if not space.is_discrete:
      low, high = space.low[order], space.high[order]
      self._low, self._high = low, high
      self._center = np.where(discrete, 0., 0.5 * (low + high)).astype(np.float32)  # [D]
      self._half_range = np.where(discrete, 1., 0.5 * (high - low)).astype(np.float32)

  @property
  def action_space(self) -> ActionSpace:
    return self._action_space

  @property
  def autoregressive(self) -> bool:
    return self._autoregressive

  def _to_steps(self, actions: tf.Tensor) -> tf.Tensor:
    """Internal actions [..., D] -> the autoregressive order."""
    return actions if self._order is None else tf.gather(actions, self._order, axis=-1)

  def _from_steps(self, actions: tf.Tensor) -> tf.Tensor:
    """Actions [..., D] in the autoregressive order -> internal order."""
    return (actions if self._inverse_order is None
            else tf.gather(actions, self._inverse_order, axis=-1))

  def _to_unit(self, actions: tf.Tensor) -> tf.Tensor:
    """Actions [..., D] in the autoregressive order -> continuous steps scaled to [-1, 1]
    (discrete steps unchanged)."""
    return (actions - self._center) / self._half_range

  # --- shapes ------------------------------------------------------------------------------

  def _batch_shape(self) -> tf.TensorShape:
    return self._state_params.shape[:-2]

  def _batch_shape_tensor(self) -> tf.Tensor:
    return tf.shape(self._state_params)[:-2]

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

  def log_prob_and_entropy_along(self, actions: types.Tensor,
                                 prefix_actions: types.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """(log mu(actions|s) [B], an entropy estimate along prefix_actions [B]) in one pass.

    `prefix_actions` [B, D] must be a draw from this distribution (e.g. one of the amortized
    search's samples): the estimate is the chain rule's sum_d H(mu_d(.|s, a_<d)) along it,
    teacher-forced like `log_prob` (no loop over D), so it has the mean of `entropy()`. The
    prefix is a constant for the gradient. Continuous: per dimension the exact Gaussian
    entropy plus the change-of-variables term at the drawn point, reparameterized as
    x = m + sigma * stop_gradient((atanh(u) - m) / sigma) (value unchanged, the gradient of
    `entropy()` at that draw).

    Args:
      actions: [B, D] internal actions, e.g. the search's argmax.
      prefix_actions: [B, D] internal actions drawn from mu.
    """
    both = self._to_steps(tf.stack([tf.convert_to_tensor(actions, self.dtype),
                                    tf.convert_to_tensor(prefix_actions, self.dtype)],
                                   axis=0))  # [2, B, D]
    params = self._teacher_forced_params(both)  # [2, B, D, P] (broadcast if factorized)
    log_prob_params, entropy_params = params[0], params[-1]  # [B, D, P] each
    log_probs = tf.reduce_sum(self._step_log_probs(both[0], log_prob_params), axis=-1)  # [B]
    return log_probs, tf.reduce_sum(self._step_entropies(both[1], entropy_params), axis=-1)

  def _step_entropies(self, prefix_actions: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
    """H(mu_d(.|s, a_<d)) along prefix_actions [B, D] (autoregressive order) given their head
    outputs [B, D, P] -> [B, D]; see `log_prob_and_entropy_along`."""
    space = self._action_space
    if space.is_discrete or space.is_hybrid:
      discrete = tfd.Categorical(logits=self._mask(params)).entropy()  # [B, D]
      if space.is_discrete:
        return discrete
    normal = self._normal(params)  # batch [B, D]
    unit = tf.clip_by_value(self._to_unit(prefix_actions), -1. + UNIT_EPS,
                            1. - UNIT_EPS)  # [B, D]
    noise = tf.stop_gradient((tf.atanh(unit) - normal.loc) / normal.scale)  # [B, D]
    pre_tanh = normal.loc + normal.scale * noise  # [B, D]
    continuous = normal.entropy() + self._log_det(pre_tanh, self._half_range)  # [B, D]
    if not space.is_hybrid:
      return continuous
    return tf.where(self._discrete_steps, discrete, continuous)

  # --- tfd.Distribution hooks --------------------------------------------------------------

  def _sample_n(self, n: types.Int, seed: Optional[types.Seed] = None) -> tf.Tensor:
    """[n, B, D] samples: D sequential steps over the [n, B] (sample, state) pairs."""
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
    actions = self._to_steps(actions)
    params = self._teacher_forced_params(actions)  # [..., B, D, P] or [B, D, P]
    return tf.reduce_sum(self._step_log_probs(actions, params), axis=-1)  # [..., B]

  def _entropy(self, seed: Optional[types.Seed] = None) -> tf.Tensor:
    """Unbiased single-sample estimate of H(mu(.|s)), [B]; see the module docstring."""
    _, _, entropies = self._rollout(1, seed, with_stats=True)
    return entropies[0]

  # --- internals ---------------------------------------------------------------------------

  def _rollout(self, n: types.Int, seed: Optional[types.Seed], greedy: bool = False,
               with_stats: bool = False) -> Tuple[tf.Tensor, Optional[tf.Tensor],
                                                  Optional[tf.Tensor]]:
    """Draws n actions per state, one sub-action at a time (`_draws`, XLA-compiled).

    Args:
      n: number of samples per state (int or scalar int tensor).
      seed: a TFP seed (None, int or stateless int32 [2]); the noise of all D steps is drawn
        from it in one call.
      greedy: take the mode of every mu_d instead of a draw.
      with_stats: also return log-probabilities and entropy estimates.

    Returns:
      (actions [n, *batch, D], log_probs [n, *batch] or None, entropy estimates [n, *batch]
      or None).
    """
    space = self._action_space
    batch_shape = tf.shape(self._state_params)[:-2]
    state_params = tf.reshape(self._state_params, tf.concat(
        [[-1], tf.shape(self._state_params)[-2:]], axis=0))  # [B, D, P], batch flattened
    state_params = self._mask(state_params)
    noise_shape = tf.stack([self._num_dims, n, tf.shape(state_params)[0]])  # [D, n, B]
    noise = tf.zeros(noise_shape) if greedy else self._step_noise(noise_shape, seed)
    prefix_state = self._prefix_state
    if self._autoregressive:
      prefix_state = tf.reshape(self._prefix_state, tf.concat(
          [[-1], tf.shape(self._prefix_state)[-2:]], axis=0))  # [B, D-1, A]
    draws = _compiled_draws(with_stats, greedy, self._last_values, self._min_log_std,
                            self._max_log_std)
    actions, log_probs, entropies = draws(state_params, prefix_state, self._prefix_head_kernel,
                                          self._action_embedding, noise)
    if not space.is_discrete:  # unit actions and unit-scale statistics -> the action bounds
      actions = tf.clip_by_value(self._center + self._half_range * actions, self._low,
                                 self._high)
      if with_stats:
        log_scale = float(np.sum(np.log(self._half_range)))  # 0 for discrete steps
        log_probs, entropies = log_probs - log_scale, entropies + log_scale
    actions = self._from_steps(actions)
    full_shape = tf.concat([[n], batch_shape], axis=0)  # [n, *batch]
    actions = tf.reshape(actions, tf.concat([full_shape, [self._num_dims]], axis=0))
    if not with_stats:
      return actions, None, None
    return actions, tf.reshape(log_probs, full_shape), tf.reshape(entropies, full_shape)

  def _step_noise(self, shape: tf.Tensor, seed: Optional[types.Seed]) -> tf.Tensor:
    """The noise of every sampling step, `shape` [D, n, B]: U[0, 1) for discrete spaces
    (inverse-CDF draws), standard normals for continuous ones."""
    seed = tfp.random.sanitize_seed(seed, salt='AutoregressiveProposal')
    if self._action_space.is_discrete:
      return tf.random.stateless_uniform(shape, seed)
    if not self._hybrid:
      return tf.random.stateless_normal(shape, seed)
    uniform_seed, normal_seed = tfp.random.split_seed(seed)
    return tf.where(self._discrete_steps[:, np.newaxis, np.newaxis],
                    tf.random.stateless_uniform(shape, uniform_seed),
                    tf.random.stateless_normal(shape, normal_seed))  # [D, n, B]

  @staticmethod
  def _log_det(pre_tanh: tf.Tensor, half_range: np.ndarray) -> tf.Tensor:
    """log |da/dx| of a = center + half_range tanh(x), elementwise."""
    return tfb.Tanh().forward_log_det_jacobian(pre_tanh, event_ndims=0) + np.log(half_range)

  def _teacher_forced_params(self, actions: tf.Tensor) -> tf.Tensor:
    """Head outputs theta_d for known actions [..., B, D] -> [..., B, D, P] ([B, D, P] if
    factorized: they do not depend on the actions then)."""
    if not self._autoregressive:
      return self._state_params
    prefix = tf.cumsum(self._embed(actions), axis=-2)  # [..., B, D-1, A]: r_2 .. r_D
    hidden = tf.nn.relu(prefix + self._prefix_state)  # [..., B, D-1, A]
    prefix_params = tf.einsum('...da,dap->...dp', hidden, self._prefix_head_kernel)
    prefix_params = tf.concat([tf.zeros_like(prefix_params[..., :1, :]), prefix_params],
                              axis=-2)  # [..., B, D, P]
    return self._state_params + prefix_params

  def _embed(self, actions: tf.Tensor) -> tf.Tensor:
    """Embeddings of the sub-actions a_1 .. a_{D-1} of actions [..., D] -> [..., D-1, A]."""
    space = self._action_space
    if space.is_discrete or space.is_hybrid:
      num_embedded, num_values, prefix_size = self._action_embedding.shape
      table = tf.reshape(self._action_embedding, [num_embedded * num_values, prefix_size])
      index = actions[..., :-1]  # [..., D-1]
      if space.is_hybrid:  # continuous steps read row 0 here; their rows are replaced below
        index = tf.cast(tf.where(self._discrete_steps[:-1], tf.round(index), 0.), tf.int32)
      rows = tf.gather(table, index + tf.range(num_embedded, dtype=tf.int32) * num_values)
      if space.is_discrete:
        return rows  # [..., D-1, A]
    unit = self._to_unit(actions)[..., :-1]  # [..., D-1]
    if not space.is_hybrid:
      return unit[..., tf.newaxis] * self._action_embedding  # [..., D-1, A]
    continuous = unit[..., tf.newaxis] * self._action_embedding[:, 0, :]  # [..., D-1, A]
    return tf.where(self._discrete_steps[:-1, np.newaxis], rows, continuous)

  def _step_log_probs(self, actions: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
    """log mu_d(a_d | s, a_<d) of actions [..., B, D] (autoregressive order) given their head
    outputs -> [..., B, D]."""
    space = self._action_space
    if space.is_discrete:
      return tfd.Categorical(logits=self._mask(params)).log_prob(actions)
    unit = tf.clip_by_value(self._to_unit(actions), -1. + UNIT_EPS, 1. - UNIT_EPS)  # [..., B, D]
    continuous = self._unit_distribution(params).log_prob(unit) - np.log(self._half_range)
    if not space.is_hybrid:
      return continuous
    index = tf.cast(tf.where(self._discrete_steps, tf.round(actions), 0.), tf.int32)
    discrete = tfd.Categorical(logits=self._mask(params)).log_prob(index)
    return tf.where(self._discrete_steps, discrete, continuous)

  def _mask(self, logits: tf.Tensor) -> tf.Tensor:
    """Sets logits [..., D, V] of unavailable values to MASKED_LOGIT."""
    if self._valid_values is None:
      return logits
    return tf.where(self._valid_values, logits, MASKED_LOGIT)

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
  the proposal's own layers: the context layer (W_s, b_s), the per-sub-action heads (K, k)
  and, if autoregressive, the prefix stream (U, v, the sub-action embeddings G or g, and J).
  See the module docstring.
  """

  def __init__(self,
               action_spec: types.BoundedTensorSpec,
               state_embedding_size: int,
               hidden_size: int = 256,
               prefix_size: int = 64,
               autoregressive: bool = True,
               hybrid_order: str = 'discrete_first',
               min_log_std: float = -5.,
               max_log_std: float = 2.,
               name: str = 'ProposalNetwork'):
    """Creates the network.

    Args:
      action_spec: the TF-Agents action spec (Discrete, MultiDiscrete or bounded Box).
      state_embedding_size: E, the width of the state embedding the network reads.
      hidden_size: H, the width of the per-state stream h.
      prefix_size: A, the width of the per-sample prefix stream r_d (the sampling loop's work
        per sample and step is about A x P).
      autoregressive: if False, every sub-action reads h only (the factorized ablation).
      hybrid_order: the autoregressive order of a hybrid action's sub-actions: 'discrete_first'
        (every discrete sub-action, then every continuous one, each kind in the spec's
        order), 'continuous_first', or 'spec' (the spec's order).
      min_log_std, max_log_std: clip range of the Gaussian log std (continuous spaces).
      name: the network's name.

    Raises:
      ValueError: for a non-positive size or an empty log-std range.
      UnsupportedActionSpecError: for an action spec tf_aql cannot handle.
    """
    if state_embedding_size <= 0 or hidden_size <= 0 or prefix_size <= 0:
      raise ValueError(f'ProposalNetwork needs positive sizes; got state_embedding_size='
                       f'{state_embedding_size}, hidden_size={hidden_size}, '
                       f'prefix_size={prefix_size}.')
    if not min_log_std < max_log_std:
      raise ValueError(f'ProposalNetwork needs min_log_std < max_log_std; got {min_log_std} '
                       f'and {max_log_std}.')
    if hybrid_order not in HYBRID_ORDERS:
      raise ValueError(f'Unknown ProposalNetwork.hybrid_order {hybrid_order!r}; use one of '
                       f'{HYBRID_ORDERS}.')
    super().__init__(input_tensor_spec=tf.TensorSpec([state_embedding_size], tf.float32),
                     state_spec=(), name=name)
    self._action_space = ActionSpace(action_spec)
    self._hidden_size = hidden_size
    self._prefix_size = prefix_size
    self._autoregressive = autoregressive and self._action_space.num_dims > 1
    self._order = _step_order(self._action_space, hybrid_order)
    self._min_log_std = float(min_log_std)
    self._max_log_std = float(max_log_std)
    self._context_layer = tf.keras.layers.Dense(hidden_size, name='context')
    self._setup_heads()
    self._setup_prefix_stream()

  def _setup_heads(self):
    space = self._action_space
    if space.is_hybrid:
      self._num_params = max(space.max_num_values, 2)
    else:
      self._num_params = space.max_num_values if space.is_discrete else 2
    self.head_kernel = self.add_weight(
        name='head_kernel', shape=[space.num_dims, self._hidden_size, self._num_params],
        initializer=tf.keras.initializers.TruncatedNormal(stddev=_HEAD_INIT_STDDEV))
    self.head_bias = self.add_weight(
        name='head_bias', shape=[space.num_dims, self._num_params], initializer='zeros')

  def _setup_prefix_stream(self):
    """U, v, G (or g) and J; all None if factorized (no sub-action has a successor)."""
    self.prefix_state_kernel = self.prefix_state_bias = None
    self.action_embedding = self.prefix_head_kernel = None
    if not self._autoregressive:
      return
    space = self._action_space
    num_conditioned = space.num_dims - 1
    self.prefix_state_kernel = self.add_weight(
        name='prefix_state_kernel', shape=[num_conditioned, self._hidden_size, self._prefix_size],
        initializer=tf.keras.initializers.TruncatedNormal(stddev=self._hidden_size ** -0.5))
    self.prefix_state_bias = self.add_weight(
        name='prefix_state_bias', shape=[num_conditioned, self._prefix_size],
        initializer='zeros')
    shape = ([num_conditioned, space.max_num_values, self._prefix_size]
             if space.is_discrete or space.is_hybrid else [num_conditioned, self._prefix_size])
    self.action_embedding = self.add_weight(
        name='action_embedding', shape=shape,
        initializer=tf.keras.initializers.TruncatedNormal(stddev=_EMBEDDING_INIT_STDDEV))
    self.prefix_head_kernel = self.add_weight(
        name='prefix_head_kernel', shape=[num_conditioned, self._prefix_size, self._num_params],
        initializer=tf.keras.initializers.TruncatedNormal(stddev=_HEAD_INIT_STDDEV))

  @property
  def action_space(self) -> ActionSpace:
    return self._action_space

  @property
  def context_layer(self) -> tf.keras.layers.Dense:
    """The Dense layer computing W_s e(s) + b_s (h is its relu)."""
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
    hidden = tf.nn.relu(self._context_layer(tf.cast(state_embedding, tf.float32)))  # [B, H]
    state_params = (tf.einsum('bh,dhp->bdp', hidden, self.head_kernel)
                    + self.head_bias)  # [B, D, P]
    prefix_state = action_embedding = prefix_head_kernel = None
    if self._autoregressive:
      prefix_state = (tf.einsum('bh,dha->bda', hidden, self.prefix_state_kernel)
                      + self.prefix_state_bias)  # [B, D-1, A]
      action_embedding = tf.convert_to_tensor(self.action_embedding)
      prefix_head_kernel = tf.convert_to_tensor(self.prefix_head_kernel)
    proposal = AutoregressiveProposal(
        state_params=state_params,
        prefix_state=prefix_state,
        action_embedding=action_embedding,
        prefix_head_kernel=prefix_head_kernel,
        action_space=self._action_space,
        min_log_std=self._min_log_std,
        max_log_std=self._max_log_std,
        order=self._order)
    return proposal, network_state


def _step_order(space: ActionSpace, hybrid_order: str) -> Optional[np.ndarray]:
  """The autoregressive order [D] of a hybrid space's sub-actions; None (0 .. D-1) otherwise."""
  if not space.is_hybrid or hybrid_order == 'spec':
    return None
  parts = [space.discrete_dims, space.continuous_dims]
  if hybrid_order == 'continuous_first':
    parts.reverse()
  return np.concatenate(parts)


@functools.lru_cache(maxsize=None)
def _compiled_draws(with_stats: bool, greedy: bool, last_values: Tuple[Optional[int], ...],
                    min_log_std: float, max_log_std: float):
  """`_draws` XLA-compiled, once per statistics choice, greedy choice, space (the largest
  index of every discrete step, None for a continuous step: `last_values` [D], in the
  autoregressive order) and log-std range (kept outside the network, so a policy's SavedModel
  stores the traced function)."""
  continuous_step = functools.partial(_continuous_step, min_log_std=min_log_std,
                                      max_log_std=max_log_std)
  steps = tuple(continuous_step if v is None else
                functools.partial(_discrete_step, last_value=v, greedy=greedy)
                for v in last_values)
  discrete = tuple(v is not None for v in last_values)
  return tf.function(functools.partial(_draws, steps=steps, discrete=discrete,
                                       with_stats=with_stats), jit_compile=True)


def _draws(state_params: tf.Tensor, prefix_state: Optional[tf.Tensor],
           prefix_head_kernel: Optional[tf.Tensor], action_embedding: Optional[tf.Tensor],
           noise: tf.Tensor, steps, discrete: Tuple[bool, ...], with_stats: bool):
  """Draws D sub-actions one after another for n samples of B states (the module docstring's
  theta_d = l_d + relu(u_d + r_d) J_d, r_d = sum_{k<d} embed_k(a_k)), fused by XLA.

  Args:
    state_params: [B, D, P] l_d (discrete: masked logits).
    prefix_state: [B, D-1, A] u_d, or None (factorized: theta_d = l_d).
    prefix_head_kernel: [D-1, A, P] J_d (unused when factorized).
    action_embedding: discrete and hybrid [D-1, V, A] G_d (a continuous step of a hybrid
      space embeds as u_d G_d[0]); continuous [D-1, A] g_d (unused when factorized).
    noise: [D, n, B], discrete steps U[0, 1) (unused if greedy), continuous steps
      Normal(0, 1) (zeros give the mode of every mu_d).
    steps: one `_discrete_step` or `_continuous_step` per step.
    discrete: [D] whether each step is discrete.
    with_stats: also sum the steps' log-probabilities and entropies.

  Returns:
    (actions [n, B, D]: discrete int32 indices, continuous unit actions in [-1, 1], both as
     float32 if the space is hybrid; log mu [n, B] or None; entropy estimate [n, B] or None).
    Continuous statistics are those of the unit actions (without the log of the bounds' half
    ranges).
  """
  num_dims = state_params.shape[1]
  hybrid = any(discrete) and not all(discrete)
  actions, log_probs, entropies, prefix = [], [], [], None
  for d in range(num_dims):
    params = state_params[:, d]  # [B, P], the same for the n samples of a state
    if prefix is not None:
      hidden = tf.nn.relu(prefix + prefix_state[:, d - 1])  # [n, B, A]
      params = params + tf.einsum('nba,ap->nbp', hidden, prefix_head_kernel[d - 1])
    action, log_prob, entropy = steps[d](params, noise[d], with_stats)  # [n, B] each
    actions.append(tf.cast(action, tf.float32) if hybrid else action)
    log_probs.append(log_prob)
    entropies.append(entropy)
    if prefix_state is not None and d < num_dims - 1:
      if discrete[d]:
        embedding = tf.gather(action_embedding[d], action)  # [n, B, A]
      else:
        row = action_embedding[d, 0] if hybrid else action_embedding[d]  # [A]
        embedding = action[..., tf.newaxis] * row  # [n, B, A]
      prefix = embedding if prefix is None else prefix + embedding
  actions = tf.stack(actions, axis=-1)
  if not with_stats:
    return actions, None, None
  return actions, tf.add_n(log_probs), tf.add_n(entropies)


def _discrete_step(logits: tf.Tensor, uniform: tf.Tensor, with_stats: bool, last_value: int,
                   greedy: bool):
  """One Categorical draw by inverting the CDF (see the module docstring): (a [n, B] int32,
  log mu_d(a) [n, B] or None, H(mu_d) [n, B] or None) from logits [B or n, B, V] and
  u [n, B] ~ U[0, 1); `greedy`: a = argmax logits; `last_value`: the largest index a_d takes."""
  shape = tf.shape(uniform)  # [n, B]
  shifted = logits - tf.reduce_max(logits, axis=-1, keepdims=True)  # [B or n, B, V]
  weights = tf.exp(shifted)  # [B or n, B, V], unnormalized probabilities
  if greedy:
    action = tf.broadcast_to(tf.argmax(shifted, axis=-1, output_type=tf.int32), shape)
  else:
    num_values = logits.shape[-1]
    cdf = tf.einsum('...v,vw->...w', weights, np.triu(np.ones([num_values, num_values],
                                                                np.float32)))  # [B or n, B, V]
    threshold = uniform * cdf[..., -1]  # [n, B]
    action = tf.reduce_sum(tf.cast(cdf <= threshold[..., tf.newaxis], tf.int32), axis=-1)
    action = tf.minimum(action, last_value)
  if not with_stats:
    return action, None, None
  total = tf.reduce_sum(weights, axis=-1, keepdims=True)  # [B or n, B, 1]
  log_softmax = shifted - tf.math.log(total)  # [B or n, B, V]
  entropy = -tf.reduce_sum(weights / total * log_softmax, axis=-1)  # [B or n, B]
  log_softmax = tf.broadcast_to(log_softmax, tf.concat([shape, tf.shape(logits)[-1:]], 0))
  log_prob = tf.gather(log_softmax, action[..., tf.newaxis], batch_dims=2)[..., 0]
  return action, log_prob, tf.broadcast_to(entropy, shape)


def _continuous_step(params: tf.Tensor, normal_noise: tf.Tensor, with_stats: bool,
                     min_log_std: float, max_log_std: float):
  """One tanh-Gaussian draw in unit scale: (u = tanh(m + sigma z) [n, B], log density of u
  [n, B] or None, entropy estimate of u [n, B] or None) from params [B or n, B, 2] (mean,
  log std clipped to [min_log_std, max_log_std]) and z [n, B]."""
  normal = tfd.Normal(loc=params[..., 0],
                      scale=tf.exp(tf.clip_by_value(params[..., 1], min_log_std, max_log_std)))
  pre_tanh = normal.loc + normal.scale * normal_noise
  unit = tf.tanh(pre_tanh)
  if not with_stats:
    return unit, None, None
  log_det = tfb.Tanh().forward_log_det_jacobian(pre_tanh, event_ndims=0)
  return unit, normal.log_prob(pre_tanh) - log_det, normal.entropy() + log_det
