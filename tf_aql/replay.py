"""Reverb replay: the table, the embedded server, the writer (observer) and the sampler.

One uniform table holds n+1-step trajectory sequences (stride 1, never crossing an episode
boundary; TF-Agents' `ReverbAddTrajectoryObserver` drops the cache at each episode end). The
embedded server runs in the training process and checkpoints its contents under the run folder,
so a resumed run keeps its replay. The distributed roles build the same table with
`make_replay_table` and a `SampleToInsertRatio` rate limiter.
"""

import os
from typing import Optional

import gin
import reverb
import tensorflow as tf
from tf_agents.replay_buffers import reverb_replay_buffer
from tf_agents.replay_buffers import reverb_utils
from tf_agents.typing import types

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


class EmbeddedReplay:
  """A Reverb server in this process, with its replay buffer, writer and checkpoints.

  The single-process loop keeps the samples-per-insert ratio itself (it runs a fixed number of
  train steps per collected step), so the table only waits for its first item (`MinSize`); a
  blocking ratio limiter would deadlock a loop that alternates collecting and training.
  """

  def __init__(self, data_spec: types.NestedTensorSpec, sequence_length: int, capacity: int,
               checkpoint_dir: str, port: Optional[int] = None):
    """Starts the server, restoring the latest replay checkpoint in `checkpoint_dir` if any."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    self._sequence_length = sequence_length
    checkpointer = reverb.checkpointers.DefaultCheckpointer(path=checkpoint_dir)
    self.server = reverb.Server([make_replay_table(capacity)], port=port,
                                checkpointer=checkpointer)
    self.buffer = reverb_replay_buffer.ReverbReplayBuffer(
        data_spec, table_name=TABLE_NAME, sequence_length=sequence_length,
        local_server=self.server)
    self.observer = reverb_utils.ReverbAddTrajectoryObserver(
        self.buffer.py_client, TABLE_NAME, sequence_length=sequence_length, stride_length=1)

  def dataset(self, batch_size: int) -> tf.data.Dataset:
    """Batches of `[batch_size, sequence_length, ...]` trajectories, sampled uniformly."""
    return self.buffer.as_dataset(sample_batch_size=batch_size,
                                  num_steps=self._sequence_length,
                                  num_parallel_calls=1).prefetch(1)

  @property
  def num_items(self) -> int:
    """Sequences in the table now."""
    info = self.buffer.py_client.server_info()
    return int(info[TABLE_NAME].current_size)

  def checkpoint(self) -> str:
    """Flushes pending writes and writes a replay checkpoint; returns its path."""
    self.observer.flush()
    return self.buffer.py_client.checkpoint()

  def close(self) -> None:
    self.observer.close()
    self.server.stop()
