"""Reverb replay: the table, the servers, the writer (observer) and the sampler.

One uniform table holds n+1-step trajectory sequences (stride 1, never crossing an episode
boundary; TF-Agents' `ReverbAddTrajectoryObserver` drops the cache at each episode end). Both
the single-process loop and the distributed roles talk to it through `Replay`:

- `EmbeddedReplay` runs the server inside the training process (`train_eval`). The loop keeps
  the samples-per-insert ratio itself, so the table only waits for its first item (`MinSize`).
- `RemoteReplay` is a client of a server started by `train/distributed/replay_server.py`, whose
  table (`make_replay_table` with `samples_per_insert_limiter`) enforces the ratio between the
  collectors' inserts and the learner's samples (for on-policy agents: the unroll queue, below,
  whose size bounds how far the collectors run ahead of the learner).

On-policy agents (IMPALA) learn from unrolls instead: `Replay(..., unrolls=True)` uses a FIFO
queue (`make_unroll_queue`, each unroll sampled once, in insertion order) holding sequences of
T + 1 steps written with stride T, so consecutive unrolls of an actor overlap by one step (the
bootstrap frame of one is the first frame of the next) and every step is learned from once.
Unrolls run on across episode ends (`CountingTrajectoryObserver(across_episodes=True)`): the
boundary frame an episode end leaves inside an unroll is masked by the agent, so no step at the
end of an episode is dropped (TF-Agents' observer would drop each episode's last partial
unroll, termination included).

Both servers checkpoint their contents under `<root_dir>/replay`, so a restarted run keeps its
replay. The table's lifetime insert count (restored with a checkpoint) is the distributed
run's environment-step count: with sequences of n+1 steps, an episode of L steps yields
L - n + 1 items, so for n = 1 (the default) items and environment steps agree.
"""

import os
from typing import Optional, Sequence

import gin
import reverb
import tensorflow as tf
from tf_agents.replay_buffers import reverb_replay_buffer
from tf_agents.replay_buffers import reverb_utils
from tf_agents.typing import types

from tf_aql.native_logs import native_info_dropped

TABLE_NAME = 'uniform_table'
UNROLL_TABLE_NAME = 'unroll_queue'


@gin.configurable
def make_replay_table(capacity: int,
                      rate_limiter: Optional[reverb.rate_limiters.RateLimiter] = None,
                      name: str = TABLE_NAME) -> reverb.Table:
  """A uniform-sampling, FIFO-removal table of at most `capacity` sequences."""
  return reverb.Table(
      name,
      max_size=capacity,
      sampler=reverb.selectors.Uniform(),
      remover=reverb.selectors.Fifo(),
      rate_limiter=rate_limiter or reverb.rate_limiters.MinSize(1))


def make_unroll_queue(capacity: int, name: str = UNROLL_TABLE_NAME) -> reverb.Table:
  """A FIFO queue of at most `capacity` unrolls: each is sampled once, oldest first.

  Reverb's `Table.queue`: Fifo sampler and remover, max_times_sampled = 1 and a `Queue` rate
  limiter, so a sample waits while the queue is empty and an insert waits while it is full.
  """
  return reverb.Table.queue(name, max_size=capacity)


def samples_per_insert_limiter(samples_per_insert: float, min_size: int,
                               error_buffer: float) -> reverb.rate_limiters.RateLimiter:
  """Blocks writers or samplers so that sampled/inserted items stays near the ratio."""
  return reverb.rate_limiters.SampleToInsertRatio(
      samples_per_insert=samples_per_insert, min_size_to_sample=max(1, min_size),
      error_buffer=error_buffer)


def make_server(tables: Sequence[reverb.Table], checkpoint_dir: str,
                port: Optional[int] = None) -> reverb.Server:
  """A Reverb server that restores, then checkpoints, its tables under `checkpoint_dir`."""
  os.makedirs(checkpoint_dir, exist_ok=True)
  checkpointer = reverb.checkpointers.DefaultCheckpointer(path=checkpoint_dir)
  with native_info_dropped():
    return reverb.Server(list(tables), port=port, checkpointer=checkpointer)


class CountingTrajectoryObserver(reverb_utils.ReverbAddTrajectoryObserver):
  """`ReverbAddTrajectoryObserver` that also counts the items it creates.

  `items_created` counts every item handed to the writer; after `flush()` returns, the server
  has acknowledged all of them.

  `across_episodes=False` (TF-Agents' behaviour): the cache is dropped at each episode end, so
  no item spans two episodes and an episode's last steps that do not fill an item are lost.
  `across_episodes=True`: the stream of trajectories is cut into items regardless of episode
  ends (the unrolls of IMPALA's actors); an item may then hold boundary frames (LAST -> FIRST),
  which the learner must mask.
  """

  def __init__(self, *args, across_episodes: bool = False, **kwargs):
    super().__init__(*args, **kwargs)
    self.items_created = 0
    self._across_episodes = across_episodes

  def __call__(self, trajectory) -> None:
    if not self._across_episodes:
      super().__call__(trajectory)
      return
    self._last_trajectory = trajectory  # the parent's step, without its reset at boundaries
    self._get_writer().append(trajectory)
    self._cached_steps += 1
    self._write_cached_steps()

  def _write_cached_steps(self) -> None:
    if self._sequence_lengths_reached():
      self.items_created += len(self._table_names)
    super()._write_cached_steps()


class Replay:
  """A client of the replay table: the writer (`observer`), the sampler and the table's counts.

  Args:
    data_spec: the agent's `collect_data_spec`.
    sequence_length: steps per stored sequence (n + 1 for n-step updates).
    server_address: 'host:port' of the server; or
    local_server: a server in this process.
    unrolls: False: the uniform table of n+1-step sequences (stride 1). True: the unroll queue
      (`make_unroll_queue`): sequences of `sequence_length` = T + 1 steps written with stride T
      across episode ends, each sampled once in insertion order by one sampler stream.
    sample_timeout_s: None: a sample waits on the table's rate limiter for as long as it takes.
      A number: a sample that waits this long ends the dataset instead (its iterator raises
      `tf.errors.OutOfRangeError`; a partial last batch is dropped), so a sampler starved of
      inserts gets control back. The dataset then samples through one stream (TF-Agents
      interleaves up to 32 by default), so it ends one timeout after its last sample, not
      after each interleaved stream has waited out its own timeout in turn (measured: 15 s
      with 32 streams and a 1 s timeout).
  """

  def __init__(self, data_spec: types.NestedTensorSpec, sequence_length: int,
               server_address: Optional[str] = None,
               local_server: Optional[reverb.Server] = None,
               sample_timeout_s: Optional[float] = None,
               unrolls: bool = False):
    self._sequence_length = sequence_length
    self._unrolls = unrolls
    self.table_name = UNROLL_TABLE_NAME if unrolls else TABLE_NAME
    options = {} if sample_timeout_s is None else dict(
        rate_limiter_timeout_ms=int(sample_timeout_s * 1000), max_cycle_length=1)
    if unrolls:  # Reverb: a FIFO table needs exactly one sampler worker to keep its order
      options.update(max_cycle_length=1, num_workers_per_iterator=1)
    self.buffer = reverb_replay_buffer.ReverbReplayBuffer(
        data_spec, table_name=self.table_name, sequence_length=sequence_length,
        server_address=server_address, local_server=local_server, **options)
    self._observer = None

  @property
  def observer(self) -> CountingTrajectoryObserver:
    """Writes each collected trajectory into the table (created on first use)."""
    if self._observer is None:
      self._observer = CountingTrajectoryObserver(
          self.buffer.py_client, self.table_name, sequence_length=self._sequence_length,
          stride_length=self._sequence_length - 1 if self._unrolls else 1,
          across_episodes=self._unrolls)
    return self._observer

  def dataset(self, batch_size: int) -> tf.data.Dataset:
    """Batches of `[batch_size, sequence_length, ...]` trajectories (batch-major), sampled
    uniformly; with `unrolls`, the oldest `batch_size` unrolls of the queue, each taken once.

    Endless, unless `sample_timeout_s` is set and a sample waits that long.
    """
    return self.buffer.as_dataset(sample_batch_size=batch_size,
                                  num_steps=self._sequence_length,
                                  num_parallel_calls=1).prefetch(1)

  def _table_info(self):
    return self.buffer.py_client.server_info()[self.table_name]

  @property
  def num_items(self) -> int:
    """Sequences in the table now."""
    return int(self._table_info().current_size)

  @property
  def num_inserts(self) -> int:
    """Sequences ever inserted into the table (restored with the table's checkpoint)."""
    return int(self._table_info().rate_limiter_info.insert_stats.completed)

  @property
  def num_inserted_steps(self) -> int:
    """The environment steps the table's lifetime inserts stand for (the distributed run's
    step count): one per sequence of the uniform table (stride 1; exact for n = 1), T per
    unroll of the queue (stride T; an episode end's boundary frame counts as a step, so this
    overcounts by one per episode).
    """
    return self.num_inserts * (self._sequence_length - 1 if self._unrolls else 1)

  def flush(self) -> None:
    """Blocks until the server has acknowledged every item written so far."""
    if self._observer is not None:
      self._observer.flush()

  def end_episode(self) -> None:
    """Drops a partial episode, so no item joins it to the next one (e.g. a policy switch)."""
    if self._observer is not None:
      self._observer.reset(write_cached_steps=False)

  def checkpoint(self) -> str:
    """Flushes pending writes and writes a replay checkpoint; returns its path."""
    self.flush()
    with native_info_dropped():
      return self.buffer.py_client.checkpoint()

  def close(self) -> None:
    if self._observer is not None:
      self._observer.close()


class EmbeddedReplay(Replay):
  """A Reverb server in this process, with its replay buffer, writer and checkpoints.

  The single-process loop keeps the samples-per-insert ratio itself (it runs a fixed number of
  train steps per collected step), so the table only waits for its first item (`MinSize`); a
  blocking ratio limiter would deadlock a loop that alternates collecting and training. With
  `unrolls` the table is the unroll queue, and the loop samples only unrolls already in it.
  """

  def __init__(self, data_spec: types.NestedTensorSpec, sequence_length: int, capacity: int,
               checkpoint_dir: str, port: Optional[int] = None, unrolls: bool = False):
    """Starts the server, restoring the latest replay checkpoint in `checkpoint_dir` if any."""
    table = make_unroll_queue(capacity) if unrolls else make_replay_table(capacity)
    self.server = make_server([table], checkpoint_dir, port)
    super().__init__(data_spec, sequence_length, local_server=self.server, unrolls=unrolls)

  def close(self) -> None:
    super().close()
    with native_info_dropped():
      self.server.stop()


class RemoteReplay(Replay):
  """A client of the replay server at `server_address` ('host:port').

  `sample_timeout_s`: see `Replay`; the learner sets it so that it can stop while no
  collector inserts. `unrolls`: see `Replay`; the server must serve the unroll queue
  (`tf_aql.distributed.replay_server` does for on-policy agents).
  """

  def __init__(self, data_spec: types.NestedTensorSpec, sequence_length: int,
               server_address: str, sample_timeout_s: Optional[float] = None,
               unrolls: bool = False):
    super().__init__(data_spec, sequence_length, server_address=server_address,
                     sample_timeout_s=sample_timeout_s, unrolls=unrolls)
