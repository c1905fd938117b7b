"""Cross-entropy method (CEM) search: the maximizer of QT-Opt.

QT-Opt (Kalashnikov et al., 2018, arXiv 1806.10293) maximizes `Q(s, a)` over
actions with the cross-entropy method (Rubinstein, 1999; de Boer et al., 2005); it is one of the
baselines of Amortized Q-Learning (Van de Wiele et al., 2020, arXiv 2001.08116). For every state
`s`, starting from a sampling distribution `p_0` that covers the space, for `t = 0 .. T-1`:

  a_{t,1}, ..., a_{t,S} ~ p_t                          (S samples inside the space)
  E_t = the `num_elites` samples with the highest Q(s, a_{t,i})
  p_{t+1} = refit(p_t, E_t)

and the result is the best sample of all iterations,
`a*(s) = argmax_{t, i} Q(s, a_{t,i})`, kept as a running best: it is never worse than any
candidate the search evaluated. QT-Opt's settings: T = 2 iterations, S = 64 samples, 6 elites.

Continuous sub-actions: `p_t` is a diagonal Gaussian `N(m_t, diag(sigma_t^2))` with
`m_0 = (low + high) / 2`, `sigma_0 = (high - low) / 2`; the refit is the elite mean and
standard deviation,

  m_{t+1} = mean(E_t),  sigma_{t+1} = max(std(E_t), min_std * (high - low)),

the floor keeping the search from collapsing onto a point before the last iteration.

Discrete sub-actions: `p_t` is a product of per-dimension categoricals `pi_t[d, v]`
(padded to `max_num_values`; values `v >= num_values[d]` have probability 0), `pi_0` uniform
over the valid values; the refit mixes the elite frequencies with the previous probabilities
(the smoothed update of de Boer et al., 2005, "A tutorial on the cross-entropy method"),

  pi_{t+1}[d, v] = alpha * |{e in E_t : e_d = v}| / |E_t| + (1 - alpha) * pi_t[d, v],

so that with `alpha < 1` no value loses all probability after one iteration.

Hybrid sub-actions (`ActionSpace.is_hybrid`): `p_t` is the product of the two, the categoricals
over the discrete part and the Gaussian over the continuous part, each refit to its part of
the same elites.
"""

from typing import Optional, Tuple

import gin
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace
from tf_aql.errors import ConfigurationError
from tf_aql.search import base

# Logit of a padded (invalid) discrete value: probability exp(-1e9) = 0 after the softmax.
_INVALID_LOGIT = -1e9
# Smallest probability whose log is taken; keeps the logits of zero-probability values finite.
_MIN_PROBABILITY = 1e-30


@gin.configurable
class CemSearch(base.ActionSearch):
  """`argmax` by the cross-entropy method (QT-Opt); the best of all evaluated samples."""

  def __init__(self, action_space: ActionSpace, num_iterations: int = 2,
               num_samples: int = 64, num_elites: int = 6, min_std: float = 0.01,
               alpha: float = 0.7):
    """Creates the search.

    Args:
      action_space: the `ActionSpace` to search.
      num_iterations: T, CEM iterations (each scores `num_samples` candidates per state).
      num_samples: S, candidates sampled per state and iteration.
      num_elites: the number of best samples the distribution is refit to, in [1, S].
      min_std: continuous spaces: floor of the refit standard deviation, as a fraction of
        `high - low` per sub-action (>= 0).
      alpha: discrete spaces: weight of the elite frequencies against the previous
        probabilities in the refit, in (0, 1]; 1 is the plain CEM refit.

    Raises:
      ValueError: for counts or fractions out of range.
    """
    super().__init__(action_space)
    if num_iterations < 1 or num_samples < 1 or not 1 <= num_elites <= num_samples:
      raise ConfigurationError(
          'CemSearch needs num_iterations >= 1, num_samples >= 1 and 1 <= num_elites <= '
          f'num_samples; got num_iterations={num_iterations}, num_samples={num_samples}, '
          f'num_elites={num_elites}.')
    if min_std < 0 or not 0 < alpha <= 1:
      raise ConfigurationError(f'CemSearch needs min_std >= 0 and 0 < alpha <= 1; got '
                       f'min_std={min_std}, alpha={alpha}.')
    self._num_iterations = int(num_iterations)
    self._num_samples = int(num_samples)
    self._num_elites = int(num_elites)
    self._min_std = float(min_std)
    self._alpha = float(alpha)

  @property
  def num_evaluations(self) -> int:
    return self._num_iterations * self._num_samples

  def _search(self, score_fn: base.ScoreFn, batch_size: types.Int,
              proposal: Optional[tfp.distributions.Distribution],
              seed: Optional[types.Seed]) -> base.SearchResult:
    del proposal  # Unused.
    seed_stream = tfp.util.SeedStream(seed, salt='CemSearch')
    space = self.action_space
    params = self._initial(space, batch_size)
    best_actions = best_q_values = None
    # Python-unrolled: the iteration count is small and static, and the first call of
    # `score_fn` may create the critic's variables (not allowed inside a `tf.while_loop`).
    for iteration in range(self._num_iterations):
      candidate_actions = self._sample(space, params, seed_stream)  # [B, S, D]
      candidate_q_values = score_fn(candidate_actions)  # [B, S]
      actions, q_values, _ = base.best_candidates(candidate_actions, candidate_q_values)
      if best_actions is None:
        best_actions, best_q_values = actions, q_values  # [B, D], [B]
      else:
        improved = q_values > best_q_values  # [B]
        best_actions = tf.where(improved[:, tf.newaxis], actions, best_actions)
        best_q_values = tf.where(improved, q_values, best_q_values)
      if iteration + 1 < self._num_iterations:
        _, elite_index = tf.math.top_k(candidate_q_values, k=self._num_elites)  # [B, E]
        elites = tf.gather(candidate_actions, elite_index, axis=1, batch_dims=1)  # [B, E, D]
        params = self._refit(space, params, elites)
    return base.SearchResult(best_actions=best_actions,  # [B, D]
                             best_q_values=best_q_values,  # [B]
                             from_proposal=tf.zeros(tf.shape(best_q_values), tf.float32))

  # --- the sampling distribution of each kind of space ------------------------------------

  def _initial(self, space: ActionSpace, batch_size: types.Int):
    """p_0 for every state of the batch (see the per-kind methods below)."""
    if space.is_hybrid:
      return (self._initial_discrete(space.discrete_part, batch_size),
              self._initial_continuous(space.continuous_part, batch_size))
    if space.is_discrete:
      return self._initial_discrete(space, batch_size)
    return self._initial_continuous(space, batch_size)

  def _sample(self, space: ActionSpace, params, seed_stream: tfp.util.SeedStream) -> tf.Tensor:
    """S samples per state from p_t, internal actions [B, S, D]."""
    if space.is_hybrid:
      discrete = self._sample_discrete(space.discrete_part, params[0], seed_stream())
      continuous = self._sample_continuous(space.continuous_part, params[1], seed_stream())
      return space.merge(discrete, continuous)
    if space.is_discrete:
      return self._sample_discrete(space, params, seed_stream())
    return self._sample_continuous(space, params, seed_stream())

  def _refit(self, space: ActionSpace, params, elites: tf.Tensor):
    """p_{t+1} from p_t and the elites [B, E, D]."""
    if space.is_hybrid:
      discrete, continuous = space.split(elites)
      return (self._refit_discrete(space.discrete_part, params[0], discrete),
              self._refit_continuous(space.continuous_part, params[1], continuous))
    if space.is_discrete:
      return self._refit_discrete(space, params, elites)
    return self._refit_continuous(space, params, elites)

  # --- continuous: diagonal Gaussian ------------------------------------------------------

  def _initial_continuous(self, space: ActionSpace,
                          batch_size: types.Int) -> Tuple[tf.Tensor, tf.Tensor]:
    """(mean [B, D], std [B, D]): the center of the box and half its range."""
    shape = tf.stack([batch_size, space.num_dims])
    mean = tf.broadcast_to(tf.constant((space.low + space.high) / 2, tf.float32), shape)
    std = tf.broadcast_to(tf.constant((space.high - space.low) / 2, tf.float32), shape)
    return mean, std

  def _sample_continuous(self, space: ActionSpace, params: Tuple[tf.Tensor, tf.Tensor],
                         seed: Optional[types.Seed]) -> tf.Tensor:
    """Gaussian samples clipped into the box, [B, S, D]."""
    mean, std = params  # [B, D], [B, D]
    shape = tf.stack([tf.shape(mean)[0], self._num_samples, space.num_dims])
    noise = tf.random.normal(shape, dtype=tf.float32, seed=seed)  # [B, S, D]
    samples = mean[:, tf.newaxis, :] + std[:, tf.newaxis, :] * noise
    return space.clip(samples)

  def _refit_continuous(self, space: ActionSpace, params: Tuple[tf.Tensor, tf.Tensor],
                        elites: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """Elite mean and floored elite std, each [B, D], from elites [B, E, D]."""
    del params  # The Gaussian refit forgets the previous distribution.
    min_std = tf.constant(self._min_std * (space.high - space.low), tf.float32)  # [D]
    mean = tf.reduce_mean(elites, axis=1)
    std = tf.maximum(tf.math.reduce_std(elites, axis=1), min_std)
    return mean, std

  # --- discrete: product of per-dimension categoricals ------------------------------------

  @staticmethod
  def _valid_values(space: ActionSpace) -> np.ndarray:
    """bool [D, V]: True where value v exists for sub-action d (V = max_num_values)."""
    return np.arange(space.max_num_values)[np.newaxis, :] < space.num_values[:, np.newaxis]

  def _initial_discrete(self, space: ActionSpace, batch_size: types.Int) -> tf.Tensor:
    """probs [B, D, V]: uniform over the valid values of each sub-action, 0 on the padding."""
    valid = self._valid_values(space)
    probs = valid / space.num_values[:, np.newaxis].astype(np.float64)  # [D, V]
    return tf.broadcast_to(tf.constant(probs, tf.float32),
                           tf.stack([batch_size, space.num_dims, space.max_num_values]))

  def _sample_discrete(self, space: ActionSpace, probs: tf.Tensor,
                       seed: Optional[types.Seed]) -> tf.Tensor:
    """Categorical samples int32 [B, S, D] from probs [B, D, V]."""
    logits = tf.math.log(tf.maximum(probs, _MIN_PROBABILITY))
    logits = tf.where(tf.constant(self._valid_values(space)), logits,
                      _INVALID_LOGIT)  # [B, D, V]
    samples = tf.random.categorical(tf.reshape(logits, [-1, space.max_num_values]),
                                    self._num_samples, dtype=tf.int32, seed=seed)  # [B*D, S]
    samples = tf.reshape(samples, [-1, space.num_dims, self._num_samples])  # [B, D, S]
    return tf.transpose(samples, [0, 2, 1])  # [B, S, D]

  def _refit_discrete(self, space: ActionSpace, probs: tf.Tensor,
                      elites: tf.Tensor) -> tf.Tensor:
    """Smoothed elite frequencies [B, D, V] from probs [B, D, V] and elites [B, E, D]."""
    frequencies = tf.reduce_mean(tf.one_hot(elites, space.max_num_values, dtype=tf.float32),
                                 axis=1)
    return self._alpha * frequencies + (1.0 - self._alpha) * probs
