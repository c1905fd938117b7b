"""How many train steps a round of collection buys in `train_eval`.

`train_eval` alternates collecting and training in one process. After each round of collection
it asks its schedule how many train steps are now due:

- `ReplayRatioSchedule` (n-step replay: AQL, its search variants, DDPG, SAC): k collected
  environment steps buy k * samples_per_insert / batch_size train steps (the fraction carries
  over), so each stored sequence is sampled `samples_per_insert` times on average.
- `UnrollSchedule` (on-policy unrolls: IMPALA, Espeholt et al., 2018, arXiv 1802.01561): one
  train step per `batch_size` unrolls that reached the queue and were not trained on yet, so
  each unroll is used exactly once, as soon as a batch of them is complete. With unrolls of T
  steps that is about T * batch_size environment steps per train step (fewer when episodes
  end: an episode end puts one boundary frame into the stream).
"""

from tf_aql.errors import ConfigurationError
from tf_aql.replay import Replay


class ReplayRatioSchedule:
  """k environment steps -> k * samples_per_insert / batch_size train steps."""

  def __init__(self, samples_per_insert: float, batch_size: int):
    self._steps_per_env_step = samples_per_insert / batch_size
    self._owed = 0.0

  def train_steps_due(self, new_env_steps: int) -> int:
    """The whole train steps owed after `new_env_steps` more collected steps."""
    self._owed += new_env_steps * self._steps_per_env_step
    due = int(self._owed)
    self._owed -= due
    return due


class UnrollSchedule:
  """One train step per `batch_size` new unrolls in the replay's queue, each used once.

  Counts the unrolls the replay's writer created (plus those a restored queue holds at the
  start) minus `batch_size` per train step granted; before granting steps it flushes the
  writer, so the sampler finds every unroll counted and never waits on the collector that
  this same process runs. Build it before the replay's sampler starts (before the `Trainer`):
  a running sampler takes unrolls off the queue ahead of time, and the restored ones it took
  would not be counted (they would still be trained on, one batch late).
  """

  def __init__(self, replay: Replay, batch_size: int):
    self._replay = replay
    self._batch_size = batch_size
    self._pending = replay.num_items  # restored with a replay checkpoint, else 0
    self._created = replay.observer.items_created

  @property
  def pending(self) -> int:
    """Unrolls collected and not trained on yet (fewer than `batch_size` between calls)."""
    return self._pending

  def train_steps_due(self, new_env_steps: int) -> int:
    """Train steps that the unrolls written since the last call complete (`new_env_steps` is
    not read: unrolls, not steps, are counted)."""
    del new_env_steps
    created = self._replay.observer.items_created
    self._pending += created - self._created
    self._created = created
    due = self._pending // self._batch_size
    if due:
      self._replay.flush()
      self._pending -= due * self._batch_size
    return due


def check_unroll_queue_capacity(replay_capacity: int, batch_size: int,
                                collect_steps_per_iteration: int, unroll_length: int) -> None:
  """Refuses a queue that could fill up between two rounds of training.

  The queue holds up to batch_size - 1 unrolls left from the last round plus those one round of
  k = collect_steps_per_iteration steps writes: at most 2k / T + 1 (an episode end adds a
  boundary frame to the stream, so k steps are at most 2k frames). A full queue would block the
  writer of the process that also has to drain it.
  """
  needed = batch_size + 2 * collect_steps_per_iteration // unroll_length + 1
  if replay_capacity < needed:
    raise ConfigurationError(
        f'train_eval.replay_capacity = {replay_capacity} is too small for the unroll queue of '
        f'an on-policy agent: with batch_size {batch_size}, collect_steps_per_iteration '
        f'{collect_steps_per_iteration} and unroll_length {unroll_length} it must hold '
        f'{needed} unrolls; raise replay_capacity.')
