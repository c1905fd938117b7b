"""Amortized search: the max over proposal samples and uniform samples (AQL).

Amortized Q-Learning (Van de Wiele, Warde-Farley, Mnih & Mnih, 2020, arXiv 2001.08116,
"amortized maximization") replaces `max_a Q(s, a)` by a max over a small set of
candidates, part of them drawn from a learned proposal `mu(a | s)`:

  a_1, ..., a_N ~ mu(. | s)                       (proposal samples)
  a_{N+1}, ..., a_{N+M} ~ U(A)                    (uniform samples)
  a*(s) = argmax_{k=1..N+M} Q(s, a_k)

The proposal is then trained towards `a*(s)` (`-log mu(a*(s) | s) - lambda H(mu(. | s))`), so
the candidates are treated as constants here (`stop_gradient`). Paper defaults: N = 100,
M = 400. With N = 0 the search is UniformQL's (no proposal needed); with M = 0 it maximizes over
proposal samples only.

A proposal that has concentrated its mass draws the same action many times, and every copy
costs one critic evaluation. With `deduplicate=True` (discrete actions) a proposal sample equal to
an earlier one of the same state is replaced by a uniform draw, so the N + M evaluations score
as many different actions as the proposal's samples allow.
"""

from typing import Optional

import gin
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace
from tf_aql.errors import ConfigurationError
from tf_aql.search import base


@gin.configurable
class AmortizedSearch(base.ActionSearch):
  """`argmax` over N proposal samples and M uniform samples per state (AQL).

  `uses_proposal` is True iff `num_proposal_samples > 0`: with N = 0 no proposal is drawn
  from, and none needs to be passed.
  """

  def __init__(self, action_space: ActionSpace, num_proposal_samples: int = 100,
               num_uniform_samples: int = 400, deduplicate: bool = False):
    """Creates the search.

    Args:
      action_space: the `ActionSpace` to search.
      num_proposal_samples: N, candidates drawn from the proposal `mu(.|s)` per state (>= 0).
      num_uniform_samples: M, candidates drawn uniformly from the space per state (>= 0).
      deduplicate: replace repeated proposal samples of a state by uniform draws (discrete
        actions; continuous samples do not repeat).

    Raises:
      ValueError: if a count is negative or both are 0.
    """
    super().__init__(action_space)
    if num_proposal_samples < 0 or num_uniform_samples < 0 or (
        num_proposal_samples + num_uniform_samples < 1):
      raise ConfigurationError(
          'AmortizedSearch needs num_proposal_samples >= 0, num_uniform_samples >= 0 and at '
          f'least one candidate; got num_proposal_samples={num_proposal_samples}, '
          f'num_uniform_samples={num_uniform_samples}.')
    self._num_proposal_samples = int(num_proposal_samples)
    self._num_uniform_samples = int(num_uniform_samples)
    self.uses_proposal = self._num_proposal_samples > 0
    self._deduplicate = bool(deduplicate) and action_space.is_discrete

  @property
  def num_proposal_samples(self) -> int:
    return self._num_proposal_samples

  @property
  def num_uniform_samples(self) -> int:
    return self._num_uniform_samples

  @property
  def num_evaluations(self) -> int:
    return self._num_proposal_samples + self._num_uniform_samples

  def _search(self, score_fn: base.ScoreFn, batch_size: types.Int,
              proposal: Optional[tfp.distributions.Distribution],
              seed: Optional[types.Seed]) -> base.SearchResult:
    # The uniform candidates are scored in a call of their own that does not wait for the
    # proposal: the graph runs it beside the sequential sampling loop (bench/cost.py).
    candidates = []
    proposal_sample = None
    replaced = tf.zeros([batch_size, self._num_proposal_samples], tf.bool)  # [B, N]
    if self._num_proposal_samples > 0:
      seeds = tfp.util.SeedStream(seed, salt='AmortizedSearch')
      samples = self._sample_proposal(proposal, seeds())  # [B, N, D]
      proposal_sample = samples[:, 0, :]  # [B, D], never a repeat
      if self._deduplicate:
        replaced = base.repeated_candidates(samples)  # [B, N]
        uniform = self.action_space.sample_uniform([batch_size, self._num_proposal_samples],
                                                   seed=seeds())  # [B, N, D]
        samples = tf.where(replaced[..., tf.newaxis], uniform, samples)
      candidates.append(tf.stop_gradient(samples))
    if self._num_uniform_samples > 0:
      # Seeded as `UniformSearch`: with N = 0 both searches draw the same candidates.
      candidates.append(self.action_space.sample_uniform(
          [batch_size, self._num_uniform_samples], seed=seed))  # [B, M, D]
    candidate_actions = tf.concat(candidates, axis=1)  # [B, N+M, D]
    candidate_q_values = tf.concat([score_fn(c) for c in candidates], axis=1)  # [B, N+M]
    best_actions, best_q_values, best_index = base.best_candidates(candidate_actions,
                                                                   candidate_q_values)
    best_replaced = tf.gather(tf.pad(replaced, [[0, 0], [0, self._num_uniform_samples]]),
                              best_index, axis=1, batch_dims=1)  # [B]
    from_proposal = tf.cast((best_index < self._num_proposal_samples) & ~best_replaced,
                            tf.float32)  # [B]
    return base.SearchResult(best_actions=best_actions,  # [B, D]
                             best_q_values=best_q_values,  # [B]
                             from_proposal=from_proposal,
                             proposal_sample=proposal_sample)

  def _sample_proposal(self, proposal: tfp.distributions.Distribution,
                       seed: Optional[types.Seed]) -> tf.Tensor:
    """N proposal samples per state as internal actions [B, N, D].

    The proposal samples internal actions (int32 indices or float32 values within the bounds);
    they are cast to the internal dtype and clipped into the space, so that a sample that
    rounding put on the wrong side of a bound can never reach the critic or the environment.
    """
    samples = proposal.sample(self._num_proposal_samples, seed=seed)  # [N, B, D]
    samples = tf.transpose(samples, [1, 0, 2])  # [B, N, D]
    return self.action_space.clip(tf.cast(samples, self.action_space.dtype))
