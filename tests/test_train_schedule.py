"""Tests of the train schedules: replay ratio, and one step per batch of new unrolls."""

import gin
import tensorflow as tf

from tf_aql.errors import ConfigurationError
from tf_aql.train_schedule import ReplayRatioSchedule, UnrollSchedule
from tf_aql.train_schedule import check_unroll_queue_capacity

from test_replay import BATCH, frame_stream, unroll_replay


class ReplayRatioScheduleTest(tf.test.TestCase):

  def test_fractions_carry_over(self):
    schedule = ReplayRatioSchedule(samples_per_insert=4.0, batch_size=8)  # 0.5 step per step
    self.assertEqual([schedule.train_steps_due(1) for _ in range(5)], [0, 1, 0, 1, 0])
    self.assertEqual(schedule.train_steps_due(7), 4)  # 0.5 owed + 3.5


class UnrollScheduleTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    self.replay = unroll_replay(self)

  def test_one_step_per_batch_of_new_unrolls_and_every_counted_unroll_can_be_sampled(self):
    schedule = UnrollSchedule(self.replay, BATCH)
    frames = frame_stream([8, 8, 8])  # 27 frames: unrolls at 0, 3, ..., 21: 8 of them
    for frame in frames[:7]:  # unrolls at 0 and 3 are complete, not yet flushed
      self.replay.observer(frame)
    self.assertEqual(schedule.train_steps_due(7), 1)
    self.assertEqual(schedule.pending, 0)
    iterator = iter(self.replay.dataset(batch_size=BATCH))
    self.assertAllEqual(next(iterator)[0].observation[:, 0, 0], [0, 3])  # flushed: no wait
    for frame in frames[7:12]:  # one more unroll (6..9)
      self.replay.observer(frame)
    self.assertEqual(schedule.train_steps_due(5), 0)
    self.assertEqual(schedule.pending, 1)
    for frame in frames[12:]:  # unrolls at 9, 12, 15, 18, 21
      self.replay.observer(frame)
    self.assertEqual(schedule.train_steps_due(15), 3)
    self.assertEqual([next(iterator)[0].observation[0, 0, 0].numpy() for _ in range(3)],
                     [6, 12, 18])

  def test_a_restored_queue_counts_as_pending(self):
    for frame in frame_stream([8]):  # unrolls at 0 and 3
      self.replay.observer(frame)
    self.replay.flush()
    self.assertEqual(UnrollSchedule(self.replay, 3).pending, 2)


class QueueCapacityTest(tf.test.TestCase):

  def test_a_queue_that_could_fill_up_between_trainings_is_refused(self):
    check_unroll_queue_capacity(40, batch_size=32, collect_steps_per_iteration=15,
                                unroll_length=5)  # 32 + 2 x 15 / 5 + 1 = 39 unrolls
    with self.assertRaisesRegex(ConfigurationError, 'replay_capacity = 40 is too small .* '
                                'it must hold 49 unrolls'):  # 32 + 2 x 40 / 5 + 1
      check_unroll_queue_capacity(40, batch_size=32, collect_steps_per_iteration=40,
                                  unroll_length=5)


if __name__ == '__main__':
  tf.test.main()
