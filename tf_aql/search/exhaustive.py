"""Exhaustive search: the exact `argmax_a Q(s, a)` over a small discrete space.

The exact maximum that DQN computes with one output unit per action, and the limit every
approximate search of Amortized Q-Learning (Van de Wiele et al., 2020, arXiv 2001.08116) is
measured against. For every state `s`,

  a*(s) = argmax_{i = 0 .. |A| - 1} Q(s, a(i)),
  a(i)_d = floor(i / prod_{d' > d} n_{d'}) mod n_d      (mixed radix, last sub-action fastest)

over all `|A| = prod_d n_d` joint actions, scored in chunks of `chunk_size` candidates per
state with a running best across chunks (the first maximal index wins ties, as `np.argmax`).
The cost is `|A|` critic evaluations per state, so the constructor refuses spaces with more
than `max_num_actions` joint actions.
"""

from typing import Optional, Tuple

import gin
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace, UnsupportedActionSpecError
from tf_aql.errors import ConfigurationError
from tf_aql.search import base


@gin.configurable
class ExhaustiveSearch(base.ActionSearch):
  """Exact `argmax` by enumerating every joint action (discrete spaces only)."""

  def __init__(self, action_space: ActionSpace, max_num_actions: int = 1_000_000,
               chunk_size: int = 4096):
    """Creates the search.

    Args:
      action_space: a discrete `ActionSpace` with at most `max_num_actions` joint actions.
      max_num_actions: the largest space this search agrees to enumerate.
      chunk_size: candidates scored per state in one `score_fn` call; the critic holds
        `[B, chunk_size, ...]` activations at a time.

    Raises:
      UnsupportedActionSpecError (a ValueError): for a continuous space.
      ValueError: if the space has more than `max_num_actions` joint actions, or
        `chunk_size` < 1.
    """
    super().__init__(action_space)
    if not action_space.is_discrete:
      raise UnsupportedActionSpecError(
          f'Exhaustive search needs a discrete action space; got {action_space.describe()}. '
          'Use the amortized, uniform or CEM search, or discretize the space.')
    num_actions = action_space.num_actions
    if num_actions > max_num_actions:
      raise ConfigurationError(
          f'Exhaustive search cannot enumerate {action_space.describe()}: {num_actions} joint '
          f'actions exceed the limit max_num_actions={max_num_actions}; use the amortized, '
          'uniform or CEM search, or raise ExhaustiveSearch.max_num_actions.')
    if chunk_size < 1:
      raise ConfigurationError(f'ExhaustiveSearch.chunk_size must be >= 1; got {chunk_size}.')
    self._num_actions = int(num_actions)
    self._chunk_size = min(int(chunk_size), self._num_actions)
    self._num_chunks = -(-self._num_actions // self._chunk_size)  # ceil

  @property
  def num_evaluations(self) -> int:
    return self._num_actions

  @property
  def num_chunks(self) -> int:
    """`score_fn` calls per search: ceil(num_actions / chunk_size)."""
    return self._num_chunks

  def _search(self, score_fn: base.ScoreFn, batch_size: types.Int,
              proposal: Optional[tfp.distributions.Distribution],
              seed: Optional[types.Seed]) -> base.SearchResult:
    del proposal, seed  # Unused: the search is deterministic.

    def score_chunk(chunk: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
      """The best of chunk `chunk`: (actions [B, D], q_values [B])."""
      start = tf.cast(chunk, tf.int64) * self._chunk_size
      actions = self.action_space.enumerate(start, self._chunk_size)  # [C, D]
      candidate_actions = tf.broadcast_to(
          actions[tf.newaxis],
          tf.stack([batch_size, self._chunk_size, self.action_space.num_dims]))  # [B, C, D]
      candidate_q_values = score_fn(candidate_actions)  # [B, C]
      # The last chunk wraps around past num_actions: those indices never win.
      in_space = start + tf.range(self._chunk_size, dtype=tf.int64) < self._num_actions  # [C]
      candidate_q_values = tf.where(in_space[tf.newaxis], candidate_q_values,
                                    tf.cast(-float('inf'), candidate_q_values.dtype))
      best_actions, best_q_values, _ = base.best_candidates(candidate_actions,
                                                            candidate_q_values)
      return best_actions, best_q_values

    def body(chunk, best_actions, best_q_values):
      actions, q_values = score_chunk(chunk)
      improved = q_values > best_q_values  # [B]; ties keep the earlier (smaller) index.
      return (chunk + 1, tf.where(improved[:, tf.newaxis], actions, best_actions),
              tf.where(improved, q_values, best_q_values))

    # The first chunk outside the loop: it starts the running best and lets `score_fn` create
    # variables on its first call (not allowed inside a `tf.while_loop`).
    best_actions, best_q_values = score_chunk(tf.constant(0))  # [B, D], [B]
    if self._num_chunks > 1:
      actions_shape, q_values_shape = best_actions.shape, best_q_values.shape
      # One chunk at a time (parallel_iterations=1) bounds the memory to one chunk's scoring.
      _, best_actions, best_q_values = tf.while_loop(
          lambda chunk, *_: chunk < self._num_chunks, body,
          (tf.constant(1), best_actions, best_q_values),
          shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, actions_shape[-1]]),
                            tf.TensorShape([None])),
          parallel_iterations=1, maximum_iterations=self._num_chunks - 1)
      best_actions.set_shape(actions_shape)
      best_q_values.set_shape(q_values_shape)
    return base.SearchResult(best_actions=best_actions,  # [B, D]
                             best_q_values=best_q_values,  # [B]
                             from_proposal=tf.zeros(tf.shape(best_q_values), tf.float32))
