"""The action-search interface: approximate `argmax_a Q(s, a)` for a batch of states.

AQL, UniformQL, QT-Opt and an exact-max DQN differ only in how this argmax is found
(Van de Wiele et al., 2020, arXiv 2001.08116, section 3). A search receives a `score_fn` that
maps candidate actions `[B, K, D]` to critic values `[B, K]` (the critic has already run its
state torso once per state; see `tf_aql.networks.critic_network`) and returns the best
candidate per state.
"""

import abc
from typing import Callable, NamedTuple, Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace

# candidate_actions [B, K, D] -> candidate_q_values [B, K]
ScoreFn = Callable[[tf.Tensor], tf.Tensor]


class SearchResult(NamedTuple):
  """What a search returns.

  Attributes:
    best_actions: [B, D] internal actions (see `ActionSpace`), the best candidate per state.
    best_q_values: [B] float32, the score of `best_actions`.
    from_proposal: [B] float32, 1.0 where the best candidate was drawn from the proposal
      `mu(a|s)` rather than from the uniform set (always 0 for searches without a proposal).
    proposal_sample: [B, D] internal actions, one of the search's draws from `mu(.|s)` per
      state (a sample of mu, not selected by Q), or None for searches without a proposal. The
      agent's entropy estimate reuses it instead of drawing a new one.
  """
  best_actions: tf.Tensor
  best_q_values: tf.Tensor
  from_proposal: tf.Tensor
  proposal_sample: Optional[tf.Tensor] = None


class ActionSearch(abc.ABC):
  """Finds `argmax_a Q(s, a)` approximately, from candidate actions it chooses.

  Subclasses implement `_search`. `num_evaluations` is the number of critic evaluations per
  state, the budget on which searches are compared.
  """

  # True if `__call__` needs the proposal distribution (AQL's amortized search).
  uses_proposal: bool = False

  def __init__(self, action_space: ActionSpace):
    self._action_space = action_space

  @property
  def action_space(self) -> ActionSpace:
    return self._action_space

  @property
  @abc.abstractmethod
  def num_evaluations(self) -> int:
    """Critic evaluations per state."""

  def __call__(self, score_fn: ScoreFn, batch_size: types.Int,
               proposal: Optional[tfp.distributions.Distribution] = None,
               seed: Optional[types.Seed] = None) -> SearchResult:
    """Runs the search for `batch_size` states.

    Args:
      score_fn: candidate_actions [B, K, D] -> candidate_q_values [B, K].
      batch_size: B (a Python int or scalar tensor).
      proposal: the proposal `mu(.|s)` with batch shape [B] and event shape [D]; required iff
        `uses_proposal`. `proposal.sample(n)` returns [n, B, D].
      seed: optional op seed for the random candidates.

    Returns:
      A `SearchResult`.
    """
    if self.uses_proposal and proposal is None:
      raise ValueError(f'{type(self).__name__} needs a proposal distribution; build the agent '
                       'with a proposal network or choose a search without one.')
    return self._search(score_fn, batch_size, proposal, seed)

  @abc.abstractmethod
  def _search(self, score_fn: ScoreFn, batch_size: types.Int,
              proposal: Optional[tfp.distributions.Distribution],
              seed: Optional[types.Seed]) -> SearchResult:
    """See `__call__`."""


def best_candidates(candidate_actions: tf.Tensor,
                    candidate_q_values: tf.Tensor) -> tuple:
  """Argmax over candidates.

  Args:
    candidate_actions: [B, K, D].
    candidate_q_values: [B, K].

  Returns:
    (best_actions [B, D], best_q_values [B], best_index [B] int32).
  """
  best_index = tf.argmax(candidate_q_values, axis=1, output_type=tf.int32)  # [B]
  best_actions = tf.gather(candidate_actions, best_index, axis=1, batch_dims=1)  # [B, D]
  best_q_values = tf.gather(candidate_q_values, best_index, axis=1, batch_dims=1)  # [B]
  return best_actions, best_q_values, best_index


def repeated_candidates(candidate_actions: tf.Tensor) -> tf.Tensor:
  """Marks every candidate equal to an earlier candidate of the same state.

  Args:
    candidate_actions: [B, K, D] int32 internal discrete actions.

  Returns:
    [B, K] bool: True at k if some j < k has the same action. Actions are compared by a 64-bit
    hash of their sub-actions (random odd multipliers, wrapping arithmetic); a collision only
    marks one distinct candidate as a repeat.
  """
  num_dims = candidate_actions.shape[-1]
  multipliers = np.random.RandomState(1234).randint(1, 2 ** 62, size=num_dims,
                                                    dtype=np.int64) * 2 + 1  # [D], odd
  codes = tf.reduce_sum(tf.cast(candidate_actions, tf.int64) * multipliers, axis=-1)  # [B, K]
  same = tf.equal(codes[:, :, tf.newaxis], codes[:, tf.newaxis, :])  # [B, K, K]: (k, j)
  index = tf.range(tf.shape(candidate_actions)[1])
  earlier = index[tf.newaxis, :] < index[:, tf.newaxis]  # [K, K]: j < k
  return tf.reduce_any(same & earlier, axis=-1)
