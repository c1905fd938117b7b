"""The roles as Ray actors (tf_aql/distributed/ray_engine.py) on a two-node Ray cluster.

`ray.cluster_utils.Cluster` starts a head node and a second node (custom resource
'actor_node') as separate Ray node processes of this machine; the collectors ask for
'actor_node', so Ray must place them on the second node. Every wait has a timeout; tearDown
shuts the cluster down and the tests check that no Ray or role process is left.
"""
import os
import signal
import subprocess
import sys
import time

import psutil
import ray
import reverb
from ray.cluster_utils import Cluster
import tensorflow as tf

from tf_aql.distributed.ray_engine import RayLauncher
from tf_aql.replay import TABLE_NAME

from test_distributed import AQL, FAST, LAUNCH, SMOKE, read_jsonl, wait_for

COLLECTOR_RESOURCES = {'CPU': 1, 'actor_node': 1}


def ray_processes():
  """Command lines of Ray daemons and workers still running (this test's or any other)."""
  found = []
  for process in psutil.process_iter(['cmdline']):
    cmdline = ' '.join(process.info['cmdline'] or [])
    if 'ray::' in cmdline or 'raylet' in cmdline or 'gcs_server' in cmdline:
      found.append(cmdline[:120])
  return found


class RayEngineTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.cluster = Cluster(initialize_head=True, head_node_args={'num_cpus': 2})
    self.actor_node = self.cluster.add_node(num_cpus=2, resources={'actor_node': 2})
    self.cluster.wait_for_nodes()
    self.root_dir = os.path.join(self.get_temp_dir(), self._testMethodName)
    self.console = []

  def tearDown(self):
    if ray.is_initialized():
      ray.shutdown()
    self.cluster.shutdown()
    super().tearDown()

  def launcher(self, num_env_steps, *bindings):
    return RayLauncher(self.root_dir, 2, [AQL, SMOKE],
                       FAST + [f'train_eval.num_env_steps = {num_env_steps}', *bindings],
                       ray_address=self.cluster.address,
                       collector_resources=COLLECTOR_RESOURCES, echo=self.console.append)

  def collector_rows(self, task_id):
    return read_jsonl(os.path.join(self.root_dir, 'collectors', f'collector_{task_id}.jsonl'))

  def log(self, role):
    with open(os.path.join(self.root_dir, 'logs', f'{role}.log'), errors='replace') as f:
      return f.read()

  def assert_nothing_left(self):
    self.cluster.shutdown()
    wait_for(lambda: not ray_processes(), 30, 'every Ray process to exit')

  def test_collectors_on_a_second_node_finish_smoke(self):
    launcher = self.launcher(1_000)
    status = launcher.run()
    self.assertEqual(status, 0, '\n'.join(self.console))
    placement = {name: where['node_id'] for name, where in launcher.placement.items()}
    head = placement['learner']
    self.assertEqual(placement['replay_server'], head)
    self.assertNotEqual(self.actor_node.node_id, head)
    self.assertEqual(placement['collector_0'], self.actor_node.node_id)
    self.assertEqual(placement['collector_1'], self.actor_node.node_id)
    for task_id in (0, 1):  # both collectors' experience reached the replay server
      rows = self.collector_rows(task_id)
      self.assertNotEmpty(rows, f'collector {task_id} wrote no rows')
      self.assertGreater(rows[-1]['items_acknowledged'], 0)
    for policy in ('greedy', 'collect'):
      self.assertTrue(os.path.exists(
          os.path.join(self.root_dir, 'policies', policy, 'saved_model.pb')))
    self.assertIn('[learner] done', '\n'.join(self.console))
    self.assert_nothing_left()

  def test_collector_and_replay_server_restarts(self):
    launcher = self.launcher(3_000, 'train_eval.checkpoint_interval = 500')
    launcher.start()
    try:
      wait_for(lambda: self.collector_rows(0), 240, 'the first row of collector 0')
      first_pid = ray.get(launcher.collectors[0].where.remote())['pid']
      os.kill(first_pid, signal.SIGKILL)
      wait_for(lambda: any(row['pid'] != first_pid for row in self.collector_rows(0)), 180,
               'collector 0 to write again after Ray restarted it')

      wait_for(lambda: os.listdir(os.path.join(self.root_dir, 'replay')), 180,
               'a replay checkpoint')
      address = ray.get(launcher.server.address.remote())
      os.kill(ray.get(launcher.server.where.remote())['pid'], signal.SIGKILL)
      wait_for(lambda: 'restarted by Ray' in self.log('replay_server'), 120,
               'Ray to restart the replay server')
      restarted_at = time.time()
      self.assertEqual(ray.get(launcher.server.address.remote()), address)
      for task_id in (0, 1):  # the collectors resume writing to the restarted server
        wait_for(lambda t=task_id: any(row['time'] > restarted_at
                                       for row in self.collector_rows(t)), 180,
                 f'collector {task_id} to write to the restarted server')
      inserts = reverb.Client(address).server_info()[TABLE_NAME].rate_limiter_info
      self.assertGreater(inserts.insert_stats.completed, 0)
      status = launcher.wait()
    finally:
      launcher.stop()
    self.assertEqual(status, 0, '\n'.join(self.console))
    self.assertIn('[learner] done', '\n'.join(self.console))
    self.assert_nothing_left()


class RayCommandLineTest(tf.test.TestCase):

  def test_ctrl_c_checkpoints_and_leaves_no_process(self):
    """launch.py --engine=ray on its own Ray instance: Ctrl-C mid-run exits 130 after the
    learner's checkpoint, and the Ray instance goes with it."""
    self.assertEmpty(ray_processes(), 'Ray processes were running before the test')
    root_dir = os.path.join(self.get_temp_dir(), 'ctrl_c')
    bindings = [f'--gin_bindings={b}' for b in FAST + ['train_eval.num_env_steps = 100_000']]
    process = subprocess.Popen(
        [sys.executable, LAUNCH, '--engine=ray', f'--root_dir={root_dir}', '--num_collectors=1',
         '--noevaluator', f'--gin_file={AQL}', f'--gin_file={SMOKE}', *bindings],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
      learner_log = os.path.join(root_dir, 'logs', 'learner.log')
      wait_for(lambda: os.path.exists(learner_log) and 'train/s' in open(learner_log).read(),
               240, 'the learner to train')
      process.send_signal(signal.SIGINT)
      console, _ = process.communicate(timeout=120)
    finally:
      if process.poll() is None:
        process.kill()
    self.assertEqual(process.returncode, 130, console)
    self.assertIn('checkpoint saved', open(learner_log).read())
    wait_for(lambda: not ray_processes(), 30, 'every Ray process to exit')


if __name__ == '__main__':
  tf.test.main()
