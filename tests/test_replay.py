"""Tests of the replay: the unroll queue an on-policy agent (IMPALA) learns from."""
import os

import gin
import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from tf_aql.agents.impala_agent import ImpalaAgent
from tf_aql.networks.policy_value_network import PolicyValueNetwork
from tf_aql.replay import UNROLL_TABLE_NAME, EmbeddedReplay, RemoteReplay

OBS_SPEC = tensor_spec.TensorSpec([1], tf.float32)
ACTION_SPEC = tensor_spec.BoundedTensorSpec((), tf.int64, 0, 2)
UNROLL = 3  # T: unrolls of 4 frames, written every 3 frames
BATCH = 2
FIRST, MID, LAST = ts.StepType.FIRST, ts.StepType.MID, ts.StepType.LAST


def impala_data_spec():
  """The collect data spec of an IMPALA agent: policy_info = PolicyInfo(log_probability)."""
  network = PolicyValueNetwork(OBS_SPEC, ACTION_SPEC, fc_layer_params=(4,))
  agent = ImpalaAgent(ts.time_step_spec(OBS_SPEC), ACTION_SPEC, network,
                      optimizer=tf.keras.optimizers.Adam(1e-3), unroll_length=UNROLL)
  return agent.collect_data_spec


def frame_stream(episode_lengths, start=0):
  """The trajectories a collect actor hands its observers for episodes of these lengths: per
  episode, its steps (FIRST -> MID ... MID -> LAST) and then the boundary frame LAST -> FIRST.
  Frame k (counted from `start`) has observation [k] and log mu = -k / 100, so a sample shows
  which frames it holds."""
  frames = []
  for length in episode_lengths:
    for step in range(length + 1):
      step_type = FIRST if step == 0 else (LAST if step == length else MID)
      next_step_type = FIRST if step == length else (LAST if step == length - 1 else MID)
      k = start + len(frames)
      frames.append(trajectory.Trajectory(
          step_type=np.int32(step_type), observation=np.array([k], np.float32),
          action=np.int64(k % 3),
          policy_info=policy_step.PolicyInfo(log_probability=np.float32(-k / 100)),
          next_step_type=np.int32(next_step_type), reward=np.float32(1.0),
          discount=np.float32(0.0 if step == length - 1 else 1.0)))
  return frames


def unroll_replay(test_case):
  """An embedded replay with the unroll queue (capacity 100), closed when the test ends."""
  replay = EmbeddedReplay(impala_data_spec(), UNROLL + 1, capacity=100,
                          checkpoint_dir=os.path.join(test_case.get_temp_dir(), 'replay'),
                          unrolls=True)
  test_case.addCleanup(replay.close)
  return replay


class UnrollQueueTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    self.replay = unroll_replay(self)

  def write(self, frames):
    for frame in frames:
      self.replay.observer(frame)
    self.replay.flush()

  def test_unrolls_overlap_by_one_frame_and_run_across_episode_ends(self):
    # Episodes of 4 and 5 steps: 5 + 6 = 11 frames -> unrolls start at frames 0, 3, 6 (the last
    # one, 9..12, is not complete). Frame 4 is the first episode's boundary frame.
    self.write(frame_stream([4, 5]))
    self.assertEqual(self.replay.table_name, UNROLL_TABLE_NAME)
    self.assertEqual(self.replay.num_items, 3)
    self.assertEqual(self.replay.observer.items_created, 3)
    self.assertEqual(self.replay.num_inserted_steps, 3 * UNROLL)  # T new frames per unroll
    unrolls, _ = next(iter(self.replay.dataset(batch_size=BATCH)))
    self.assertEqual(unrolls.observation.shape, [BATCH, UNROLL + 1, 1])  # batch-major
    self.assertEqual(unrolls.step_type.shape, [BATCH, UNROLL + 1])
    self.assertAllEqual(unrolls.observation[..., 0], [[0, 1, 2, 3], [3, 4, 5, 6]])  # FIFO
    self.assertAllClose(policy_step.get_log_probability(unrolls.policy_info),
                        [[0, -.01, -.02, -.03], [-.03, -.04, -.05, -.06]])
    self.assertAllEqual(unrolls.is_boundary(), [[False] * 4, [False, True, False, False]])
    self.assertAllEqual(unrolls.discount[0], [1, 1, 1, 0])  # frame 3 terminates episode one

  def test_each_unroll_is_sampled_once(self):
    self.write(frame_stream([8, 8]))  # 18 frames: unrolls at 0, 3, ..., 12: 5 of them
    self.assertEqual(self.replay.num_items, 5)
    iterator = iter(self.replay.dataset(batch_size=BATCH))
    firsts = [next(iterator)[0].observation[:, 0, 0].numpy() for _ in range(2)]
    self.assertAllEqual(np.concatenate(firsts), [0, 3, 6, 9])
    self.write(frame_stream([2], start=18))  # 3 frames more: frames 18..20, the unroll 15..18 completes
    self.assertAllEqual(next(iterator)[0].observation[:, 0, 0], [12, 15])

  def test_a_remote_sampler_takes_each_unroll_once_then_times_out(self):
    """The distributed learner's path: a client of the server's queue, with a sample timeout."""
    remote = RemoteReplay(impala_data_spec(), UNROLL + 1, f'localhost:{self.replay.server.port}',
                          sample_timeout_s=0.5, unrolls=True)
    self.write(frame_stream([8, 8]))  # unrolls at frames 0, 3, ..., 12: 5 of them
    iterator = iter(remote.dataset(batch_size=BATCH))
    firsts = [next(iterator)[0].observation[:, 0, 0].numpy() for _ in range(2)]
    self.assertAllEqual(np.concatenate(firsts), [0, 3, 6, 9])
    # One unroll left, no full batch: the dataset ends (eagerly StopIteration; inside the
    # learner's tf.function, the OutOfRangeError that `Trainer.train` catches).
    with self.assertRaises(StopIteration):
      next(iterator)
    self.assertEqual(remote.num_inserts, 5)

  def test_queue_contents_survive_a_checkpoint(self):
    self.write(frame_stream([8]))  # 9 frames: unrolls at 0 and 3
    self.replay.checkpoint()
    restored = EmbeddedReplay(impala_data_spec(), UNROLL + 1, capacity=100,
                              checkpoint_dir=os.path.join(self.get_temp_dir(), 'replay'),
                              unrolls=True)
    self.addCleanup(restored.close)
    self.assertEqual(restored.num_items, 2)
    unrolls, _ = next(iter(restored.dataset(batch_size=BATCH)))
    self.assertAllEqual(unrolls.observation[:, 0, 0], [0, 3])


if __name__ == '__main__':
  tf.test.main()
