"""Multi-process training over Reverb (tf_aql/distributed, train/distributed) on gin/smoke.gin.

These tests start real processes (replay server, collectors, learner, evaluator); every wait
has a timeout and tearDown stops whatever is still running.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

import reverb
import tensorflow as tf

from tf_aql.distributed.launcher import Launcher
from tf_aql.replay import TABLE_NAME

from summaries import event_tags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AQL = os.path.join(REPO, 'gin', 'methods', 'aql.gin')
IMPALA = os.path.join(REPO, 'gin', 'methods', 'impala.gin')
SMOKE = os.path.join(REPO, 'gin', 'smoke.gin')
LAUNCH = os.path.join(REPO, 'train', 'distributed', 'launch.py')
# Small periods so that every collector pulls weights several times; one export (at the end).
FAST = ['run_collector.weights_update_period = 10',
        'run_learner.push_period = 5',
        'run_learner.progress_interval_s = 0.5',
        'train_eval.eval_interval = 100_000']
# 1_000 steps, not smoke.gin's 200: a smoke learner trains ~100 steps/s, so a short run can end
# before the second collector has finished tracing its policy.
NUM_ENV_STEPS = 1_000
NUM_TRAIN_STEPS = (NUM_ENV_STEPS - 50) * 4 // 8  # smoke.gin: 50 random steps, ratio 4 / 8


def read_jsonl(path):
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip().endswith('}')]


def session_text(log_path):
  """The log of the latest start of a role (the launcher writes a '=====' line per start)."""
  if not os.path.exists(log_path):
    return ''
  with open(log_path, errors='replace') as f:
    return f.read().split('=====')[-1]


def learner_train_step(log_path):
  steps = re.findall(r'\[learner\] train_step (\d+)/', session_text(log_path))
  return int(steps[-1]) if steps else -1


def learner_summary(log_path):
  match = re.search(r'\[learner\] summary (\{.*\})', session_text(log_path))
  return json.loads(match.group(1)) if match else None


def table_counts(address):
  """(inserts, samples) the replay table's rate limiter has let through."""
  limiter = reverb.Client(address).server_info()[TABLE_NAME].rate_limiter_info
  return limiter.insert_stats.completed, limiter.sample_stats.completed


def wait_until_steady(read, steady_s, timeout_s, what):
  """Waits until `read()` has returned the same value for `steady_s`; returns that value."""
  deadline = time.time() + timeout_s
  value, since = read(), time.time()
  while time.time() < deadline:
    time.sleep(0.5)
    new_value = read()
    if new_value != value:
      value, since = new_value, time.time()
    elif time.time() - since >= steady_s:
      return value
  raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')


def checkpoint_value(path, name):
  return int(tf.train.load_variable(path, f'{name}/.ATTRIBUTES/VARIABLE_VALUE'))


def wait_for(predicate, timeout_s, what):
  deadline = time.time() + timeout_s
  while time.time() < deadline:
    value = predicate()
    if value:
      return value
    time.sleep(0.5)
  raise AssertionError(f'timed out after {timeout_s} s waiting for {what}')


# Stand-ins: a role that SIGTERM ends at once, and a learner that takes 3 s to checkpoint on
# SIGTERM and, like the real one (StopSignal), ends at once on a second SIGTERM.
SLEEPER = 'import time; time.sleep(60)'
CHECKPOINTING_LEARNER = f'''
import sys, time
sys.path.insert(0, {REPO!r})
from tf_aql.distributed.stop_signal import StopSignal
stop = StopSignal('learner')
print('ready', flush=True)
while not stop.requested:
  time.sleep(0.05)
time.sleep(3)
print('checkpoint saved', flush=True)
sys.exit(130)
'''


def printed(log_path, line):
  """Whether the latest start of a role printed `line` (its command line, in the header, may
  hold the same words)."""
  return line in session_text(log_path).splitlines()


class LauncherSupervisionTest(tf.test.TestCase):
  """The launcher's supervision, with stand-in processes instead of the TensorFlow roles."""

  def test_crashed_collector_is_restarted_within_the_budget(self):
    root_dir = self.get_temp_dir()
    lines = []
    launcher = Launcher(root_dir, 2, [], with_evaluator=False, max_collector_restarts=2,
                        restart_delay_s=0.0, echo=lines.append)
    python = sys.executable
    launcher.server.argv = [python, '-c', 'import time; time.sleep(60)']
    launcher.learner.argv = [python, '-c', 'import time; time.sleep(12)']
    launcher.collectors[0].argv = [python, '-c', 'import sys; sys.exit(1)']  # keeps crashing
    launcher.collectors[1].argv = [python, '-c', 'import sys; sys.exit(2)']  # bad input
    self.assertEqual(launcher.run(), 0)
    starts = [session_count(launcher.collectors[k].log_path) for k in (0, 1)]
    self.assertEqual(starts, [3, 1])  # 1 start + 2 restarts; bad input is not retried
    self.assertLen([l for l in lines if l.startswith('[launcher] restarting collector_0')], 2)
    self.assertEmpty([l for l in lines if l.startswith('[launcher] restarting collector_1')])

  def test_another_interrupt_while_stopping_keeps_the_learner_grace(self):
    """Ctrl-Cs while the launcher stops neither kill the checkpointing learner nor the launcher."""
    root_dir = self.get_temp_dir()
    python = sys.executable
    script = (f'import sys; sys.path.insert(0, {REPO!r}); '
              'from tf_aql.distributed.launcher import Launcher; '
              f'launcher = Launcher({root_dir!r}, 1, [], with_evaluator=False, '
              'stop_timeout_s=20); '
              f'launcher.server.argv = {[python, "-c", SLEEPER]!r}; '
              f'launcher.collectors[0].argv = {[python, "-c", SLEEPER]!r}; '
              f'launcher.learner.argv = {[python, "-c", CHECKPOINTING_LEARNER]!r}; '
              'sys.exit(launcher.run())')
    process = subprocess.Popen([python, '-c', script], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
      learner_log = os.path.join(root_dir, 'logs', 'learner.log')
      wait_for(lambda: printed(learner_log, 'ready'), 30, 'the stand-in learner')
      process.send_signal(signal.SIGINT)  # Ctrl-C: the learner starts its checkpoint
      wait_for(lambda: 'SIGTERM' in session_text(learner_log), 30, 'the learner\'s SIGTERM')
      for _ in range(3):  # impatient Ctrl-Cs while it checkpoints
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
      console, _ = process.communicate(timeout=60)
    finally:
      if process.poll() is None:
        process.kill()
    self.assertTrue(printed(learner_log, 'checkpoint saved'), session_text(learner_log))
    self.assertEqual(process.returncode, 130, console)
    self.assertIn('[launcher] already stopping', console)


def session_count(log_path):
  """Starts of a role: the launcher writes one '=====' header per start."""
  with open(log_path) as f:
    return sum(1 for line in f if line.startswith('===== '))


class DistributedTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.root_dir = os.path.join(self.get_temp_dir(), self._testMethodName)
    self.launcher = None
    self.launcher_process = None

  def tearDown(self):
    if self.launcher_process is not None and self.launcher_process.poll() is None:
      self.launcher_process.send_signal(signal.SIGTERM)  # it stops its roles
      try:
        self.launcher_process.wait(timeout=60)
      except subprocess.TimeoutExpired:
        self.launcher_process.kill()
    if self.launcher is not None:
      self.launcher.stop()
    super().tearDown()

  def log(self, role):
    return os.path.join(self.root_dir, 'logs', f'{role}.log')

  def run_launcher(self, method_gin, bindings):
    """Runs the launcher with 2 collectors on smoke sizes to the end (exit 0); its console."""
    self.launcher_process = subprocess.Popen(
        [sys.executable, LAUNCH, f'--root_dir={self.root_dir}', '--num_collectors=2',
         f'--gin_file={method_gin}', f'--gin_file={SMOKE}'] +
        [f'--gin_bindings={b}' for b in bindings],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
      console, _ = self.launcher_process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
      self.fail('the launcher did not finish within 240 s')
    self.assertEqual(self.launcher_process.returncode, 0, console[-3000:])
    return console

  def test_launcher_runs_every_role_to_the_end(self):
    console = self.run_launcher(AQL, FAST + [f'train_eval.num_env_steps = {NUM_ENV_STEPS}'])
    self.assertIn('[learner] train_step', console)  # the learner's progress is shown

    # The learner ran train_eval's equivalent of 1_000 env steps: (1_000 - 50) * 4 / 8 steps.
    summary = learner_summary(self.log('learner'))
    self.assertTrue(summary['finished'])
    self.assertEqual(summary['train_step'], NUM_TRAIN_STEPS)
    for name in ('greedy', 'collect'):
      self.assertTrue(os.path.exists(
          os.path.join(self.root_dir, 'policies', name, 'saved_model.pb')))
    self.assertContainsSubset(
        {'losses/critic_loss', 'losses/proposal_loss', 'perf/env_steps_per_sec',
         'perf/learner_steps_per_sec'}, event_tags(os.path.join(self.root_dir, 'train')))

    # Both collectors' experience reached the table: each logs the items the server has
    # acknowledged (TrajectoryWriter.flush returns once it has), and all of them together
    # are at most the inserts the server counted when it stopped.
    acknowledged = []
    for task_id in (0, 1):
      rows = read_jsonl(os.path.join(self.root_dir, 'collectors', f'collector_{task_id}.jsonl'))
      self.assertNotEmpty(rows)
      acknowledged.append(max(r['items_acknowledged'] for r in rows))
      self.assertGreater(acknowledged[-1], 0)
      # Their weights advanced: later pulls carry a larger train step.
      pulled = [r['weights_train_step'] for r in rows if r['policy'] == 'collect']
      self.assertGreaterEqual(len(pulled), 2, rows)
      self.assertGreater(pulled[-1], pulled[0])
    final_inserts = int(re.search(r'stopping; replay items \d+, inserts (\d+)',
                                  session_text(self.log('replay_server'))).group(1))
    self.assertLessEqual(sum(acknowledged), final_inserts)
    self.assertGreaterEqual(final_inserts, summary['env_steps'])

    # The evaluator wrote train_eval's rows, the last one for the final weights.
    rows = read_jsonl(os.path.join(self.root_dir, 'eval_metrics.jsonl'))
    self.assertGreaterEqual(len(rows), 2)
    for key in ('env_steps', 'train_step', 'average_return', 'average_episode_length',
                'num_episodes', 'wall_time_s'):
      self.assertIn(key, rows[-1])
    self.assertEqual(rows[0]['train_step'], 0)
    self.assertEqual(rows[-1]['train_step'], NUM_TRAIN_STEPS)

  def test_launcher_runs_impala_with_two_actors(self):
    """IMPALA: the server serves the unroll queue, the collectors are the actors writing
    unrolls, the learner trains on batches of them, each used once."""
    num_train_steps = NUM_ENV_STEPS // (5 * 8)  # smoke.gin: unroll_length 5, batch_size 8
    # smoke.gin's eval_interval (100 env steps, less than a push period of 5 train steps): the
    # evaluator also evaluates pushes before the final one, and must still exit at the end.
    bindings = [b for b in FAST if not b.startswith('train_eval.eval_interval')] + [
        f'train_eval.num_env_steps = {NUM_ENV_STEPS}']
    self.run_launcher(IMPALA, bindings)

    summary = learner_summary(self.log('learner'))
    self.assertTrue(summary['finished'])
    self.assertEqual(summary['train_step'], num_train_steps)
    self.assertEqual(summary['env_steps'] % 5, 0)  # T steps per unroll inserted
    for name in ('greedy', 'collect'):
      self.assertTrue(os.path.exists(
          os.path.join(self.root_dir, 'policies', name, 'saved_model.pb')))
    self.assertContainsSubset({'losses/policy_gradient_loss', 'losses/mean_clipped_rho'},
                              event_tags(os.path.join(self.root_dir, 'train')))

    # Both actors wrote unrolls with the collect policy (no random steps on-policy).
    acknowledged = []
    for task_id in (0, 1):
      rows = read_jsonl(os.path.join(self.root_dir, 'collectors', f'collector_{task_id}.jsonl'))
      self.assertNotEmpty(rows)
      self.assertEqual({r['policy'] for r in rows}, {'collect'})
      acknowledged.append(max(r['items_acknowledged'] for r in rows))
      self.assertGreater(acknowledged[-1], 0)
    # The queue: every unroll sampled at most once, and the learner's batches all came from it.
    inserts, samples = map(int, re.search(
        r'stopping; replay items \d+, inserts (\d+), samples (\d+)',
        session_text(self.log('replay_server'))).groups())
    self.assertLessEqual(sum(acknowledged), inserts)
    self.assertGreaterEqual(samples, num_train_steps * 8)
    self.assertLessEqual(samples, inserts)
    self.assertEqual(read_jsonl(os.path.join(self.root_dir, 'eval_metrics.jsonl'))[-1]
                     ['train_step'], num_train_steps)
    self.assertRegex(session_text(self.log('evaluator')), r'\[evaluator\] .*; done\n')

    # The same command with twice the budget resumes the run: the learner from its
    # checkpoint, the server with the queue's checkpoint, and trains the second half.
    bindings[-1] = f'train_eval.num_env_steps = {2 * NUM_ENV_STEPS}'
    self.run_launcher(IMPALA, bindings)
    self.assertIn(f'resumed from its checkpoint at train_step {num_train_steps}/',
                  session_text(self.log('learner')))
    summary = learner_summary(self.log('learner'))
    self.assertTrue(summary['finished'])
    self.assertEqual(summary['train_step'], 2 * num_train_steps)

  def start_training(self, num_collectors, bindings):
    """Starts AQL on smoke sizes without evaluator; returns (launcher, learner log) once the
    learner has trained 10 steps."""
    self.launcher = Launcher(self.root_dir, num_collectors, [AQL, SMOKE], bindings,
                             with_evaluator=False, stop_timeout_s=20, echo=lambda line: None)
    self.launcher.start()
    learner_log = self.log('learner')
    wait_for(lambda: learner_train_step(learner_log) >= 10, 150, 'the learner to train')
    return self.launcher, learner_log

  def test_collector_and_learner_restarts(self):
    bindings = FAST + ['train_eval.num_env_steps = 1_000_000',  # not reached: stopped by hand
                       'train_eval.checkpoint_interval = 20']
    launcher, learner_log = self.start_training(2, bindings)

    # A collector dies; the learner keeps training on the other one's experience.
    launcher.collectors[1].process.kill()
    launcher.collectors[1].process.wait(timeout=10)
    killed_at = learner_train_step(learner_log)
    wait_for(lambda: learner_train_step(learner_log) >= killed_at + 20, 90,
             'the learner to train on with one collector')

    # A restarted collector rejoins: it writes again, with weights newer than the kill.
    launcher.start_role(launcher.collectors[1])
    new_pid = launcher.collectors[1].process.pid
    log_1 = os.path.join(self.root_dir, 'collectors', 'collector_1.jsonl')
    wait_for(lambda: any(r['pid'] == new_pid and r['items_acknowledged'] > 0 and
                         (r['weights_train_step'] or 0) > killed_at for r in read_jsonl(log_1)),
             120, 'the restarted collector to write with new weights')

    # The learner stops on SIGTERM with a checkpoint (status 130, as after Ctrl-C).
    launcher.learner.process.send_signal(signal.SIGTERM)
    launcher.learner.process.wait(timeout=60)
    self.assertEqual(launcher.learner.exit_status, 130, session_text(learner_log)[-2000:])
    stopped = learner_summary(learner_log)
    self.assertFalse(stopped['finished'])
    launcher.stop()  # collectors and the server too

    # Server, learner and one collector start again on the same run folder: the server
    # restores the replay checkpoint, the learner its checkpoint, and training goes on.
    target = stopped['train_step'] + 10
    launcher.learner.argv.append(f'--num_train_steps={target}')
    for role in (launcher.server, launcher.learner, launcher.collectors[0]):
      launcher.start_role(role)
    launcher.learner.process.wait(timeout=180)
    self.assertEqual(launcher.learner.exit_status, 0, session_text(learner_log)[-2000:])
    restored = re.search(r'serving on port \d+; replay items (\d+), inserts (\d+)',
                         session_text(self.log('replay_server')))
    self.assertGreater(int(restored.group(1)), 0)
    self.assertGreaterEqual(int(restored.group(2)), stopped['env_steps'])
    self.assertIn(f'resumed from its checkpoint at train_step {stopped["train_step"]}/',
                  session_text(learner_log))
    summary = learner_summary(learner_log)
    self.assertTrue(summary['finished'])
    self.assertEqual(summary['train_step'], target)

  def test_stop_checkpoints_while_the_learner_waits_on_replay(self):
    """The launcher's stop: a learner starved of inserts checkpoints and exits within the grace."""
    # Only the stop checkpoints: a periodic checkpoint would hide a lost stop checkpoint.
    bindings = FAST + ['train_eval.num_env_steps = 1_000_000',
                       'train_eval.checkpoint_interval = 1_000_000']
    launcher, learner_log = self.start_training(1, bindings)

    # Without its collector the rate limiter lets the learner sample its error buffer, then
    # holds its next sample: no insert will come, so the learner waits on replay for good.
    launcher.collectors[0].process.kill()
    launcher.collectors[0].process.wait(timeout=10)
    inserts, _ = wait_until_steady(lambda: table_counts(launcher.address), 4, 60,
                                   'the learner to stop sampling')
    checkpoint_dir = os.path.join(self.root_dir, 'checkpoints')
    self.assertIsNone(tf.train.latest_checkpoint(checkpoint_dir))

    launcher.stop()  # SIGTERM to the learner, SIGKILL after stop_timeout_s
    log_tail = session_text(learner_log)[-2000:]
    # 130: it saw the stop and exited by itself within the grace; 137: the launcher killed it.
    self.assertEqual(launcher.learner.exit_status, 130, log_tail)
    summary = learner_summary(learner_log)
    self.assertFalse(summary['finished'])
    self.assertEqual(summary['env_steps'], inserts)
    self.assertGreaterEqual(summary['train_step'], learner_train_step(learner_log))
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    self.assertEqual(os.path.basename(latest), f'ckpt-{inserts}', log_tail)
    self.assertEqual(checkpoint_value(latest, 'env_step'), inserts)
    self.assertEqual(checkpoint_value(latest, 'train_step'), summary['train_step'])


if __name__ == '__main__':
  tf.test.main()
