"""Reverb replay: the table, the servers, the writer (observer) and the sampler.

One uniform table holds n+1-step trajectory sequences (stride 1, never crossing an episode
boundary; TF-Agents' `ReverbAddTrajectoryObserver` drops the cache at each episode end). Both
the single-process loop and the distributed roles talk to it through `Replay`:

- `EmbeddedReplay` runs the server inside the training process (`train_eval`). The loop keeps
  the samples-per-insert ratio itself, so the table only waits for its first item (`MinSize`).
- `RemoteReplay` is a client of a server started by `train/distributed/replay_server.py`, whose
  table (`make_replay_table` with `samples_per_insert_limiter`) enforces the ratio between the
  collectors' inserts and the learner's samples.

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
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.items_created = 0

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
  """

  def __init__(self, data_spec: types.NestedTensorSpec, sequence_length: int,
               server_address: Optional[str] = None,
               local_server: Optional[reverb.Server] = None):
    self._sequence_length = sequence_length
    self.buffer = reverb_replay_buffer.ReverbReplayBuffer(
        data_spec, table_name=TABLE_NAME, sequence_length=sequence_length,
        server_address=server_address, local_server=local_server)
    self._observer = None

  @property
  def observer(self) -> CountingTrajectoryObserver:
    """Writes each collected trajectory into the table (created on first use)."""
    if self._observer is None:
      self._observer = CountingTrajectoryObserver(
          self.buffer.py_client, TABLE_NAME, sequence_length=self._sequence_length,
          stride_length=1)
    return self._observer

  def dataset(self, batch_size: int) -> tf.data.Dataset:
    """Batches of `[batch_size, sequence_length, ...]` trajectories, sampled uniformly."""
    return self.buffer.as_dataset(sample_batch_size=batch_size,
                                  num_steps=self._sequence_length,
                                  num_parallel_calls=1).prefetch(1)

  def _table_info(self):
    return self.buffer.py_client.server_info()[TABLE_NAME]

  @property
  def num_items(self) -> int:
    """Sequences in the table now."""
    return int(self._table_info().current_size)

  @property
  def num_inserts(self) -> int:
    """Sequences ever inserted into the table (restored with the table's checkpoint)."""
    return int(self._table_info().rate_limiter_info.insert_stats.completed)

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
  blocking ratio limiter would deadlock a loop that alternates collecting and training.
  """

  def __init__(self, data_spec: types.NestedTensorSpec, sequence_length: int, capacity: int,
               checkpoint_dir: str, port: Optional[int] = None):
    """Starts the server, restoring the latest replay checkpoint in `checkpoint_dir` if any."""
    self.server = make_server([make_replay_table(capacity)], checkpoint_dir, port)
    super().__init__(data_spec, sequence_length, local_server=self.server)

  def close(self) -> None:
    super().close()
    with native_info_dropped():
      self.server.stop()


class RemoteReplay(Replay):
  """A client of the replay server at `server_address` ('host:port')."""

  def __init__(self, data_spec: types.NestedTensorSpec, sequence_length: int,
               server_address: str):
    super().__init__(data_spec, sequence_length, server_address=server_address)
