"""Uniform search: the max over M actions drawn uniformly from the action space.

This is the search of UniformQL, the AQL baseline without a proposal (Van de Wiele et al., 2020,
arXiv 2001.08116): for every state `s`,

  a_1, ..., a_M ~ U(A)          (each sub-action independently uniform)
  a*(s) = argmax_{m=1..M} Q(s, a_m)

On a discrete space with `num_actions` joint actions, one given action is among the M samples
with probability `1 - (1 - 1 / num_actions)^M`, so the search is exact on tiny spaces only.
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
class UniformSearch(base.ActionSearch):
  """`argmax` over `num_uniform_samples` uniform candidates per state (UniformQL)."""

  def __init__(self, action_space: ActionSpace, num_uniform_samples: int = 500):
    """Creates the search.

    Args:
      action_space: the `ActionSpace` to search.
      num_uniform_samples: M, uniform candidates per state (> 0).

    Raises:
      ValueError: if `num_uniform_samples` < 1.
    """
    super().__init__(action_space)
    if num_uniform_samples < 1:
      raise ConfigurationError(f'UniformSearch.num_uniform_samples must be >= 1; got '
                       f'{num_uniform_samples}.')
    self._num_uniform_samples = int(num_uniform_samples)

  @property
  def num_evaluations(self) -> int:
    return self._num_uniform_samples

  def _search(self, score_fn: base.ScoreFn, batch_size: types.Int,
              proposal: Optional[tfp.distributions.Distribution],
              seed: Optional[types.Seed]) -> base.SearchResult:
    del proposal  # Unused.
    candidate_actions = self.action_space.sample_uniform(
        [batch_size, self._num_uniform_samples], seed=seed)  # [B, M, D]
    candidate_q_values = score_fn(candidate_actions)  # [B, M]
    best_actions, best_q_values, _ = base.best_candidates(candidate_actions,
                                                          candidate_q_values)
    return base.SearchResult(best_actions=best_actions,  # [B, D]
                             best_q_values=best_q_values,  # [B]
                             from_proposal=tf.zeros(tf.shape(best_q_values), tf.float32))
