"""End-to-end tests of the training pipeline on gin/smoke.gin."""
import contextlib
import glob
import io
import json
import os
import subprocess
import sys

import gin
import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from tf_agents.trajectories import time_step as ts

from tf_aql import cli
from tf_aql.errors import TfAqlError
from tf_aql.run_folder import RunFolder
from tf_aql.train_loop import RunSettings, train_eval
from tf_aql.trained_run import load_trained_run

from summaries import event_tags, scalar_values

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AQL = os.path.join(REPO, 'gin', 'methods', 'aql.gin')
SMOKE = os.path.join(REPO, 'gin', 'smoke.gin')
IMPALA = os.path.join(REPO, 'gin', 'methods', 'impala.gin')


def run_smoke(root_dir, *bindings):
  gin.clear_config()
  cli.parse_gin([AQL, SMOKE], list(bindings))
  return train_eval(root_dir)


def read_rows(root_dir):
  with open(os.path.join(root_dir, 'eval_metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


class TrainEvalTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    self.root_dir = os.path.join(self.get_temp_dir(), self._testMethodName)

  def test_smoke_run_writes_every_output(self):
    row = run_smoke(self.root_dir)
    self.assertEqual(row['env_steps'], 200)
    rows = read_rows(self.root_dir)
    self.assertEqual([r['env_steps'] for r in rows], [50, 100, 200])
    for key in ('env_steps', 'train_step', 'average_return', 'wall_time_s', 'replay_items'):
      self.assertIn(key, rows[-1])
    self.assertGreater(rows[-1]['train_step'], 0)
    # 150 env steps after the 50 random ones, 4 samples per insert, batch 8: 75 train steps.
    self.assertEqual(rows[-1]['train_step'], 75)

    with open(os.path.join(self.root_dir, 'operative_config.gin')) as f:
      config = f.read()
    self.assertIn('AmortizedSearch.num_proposal_samples = 8', config)
    self.assertIn("env_name = 'tf_aql/SubActionChain-v0'", config)
    self.assertFalse(os.path.exists(os.path.join(self.root_dir, 'train', 'checkpoints')))

    self.assertContainsSubset({'losses/critic_loss', 'losses/proposal_loss',
                               'losses/best_from_proposal', 'perf/env_steps_per_sec',
                               'perf/learner_steps_per_sec', 'eval/average_return'},
                              event_tags(os.path.join(self.root_dir, 'train')) |
                              event_tags(os.path.join(self.root_dir, 'eval')))

    for name in ('greedy', 'collect'):
      policy = tf.saved_model.load(os.path.join(self.root_dir, 'policies', name))
      observation = tf.zeros([2, 12])  # one-hot of 3 sub-actions x 4 values
      action = policy.action(ts.restart(observation, batch_size=2)).action.numpy()
      self.assertEqual(action.shape, (2, 3))
      self.assertTrue(np.all((action >= 0) & (action < 4)))

  def test_gamma_positive_run_ends_clearly_above_random(self):
    # The smoke chain (3 sub-actions x 4 values, 5-step episodes) with gamma = 0.9: the targets
    # bootstrap on the amortized search at s' though the action does not change the future.
    # Random actions return 5 / 4 = 1.25 per episode; the mean of 10 random episodes has a
    # standard deviation of about 0.18, so 1.9 is far above what luck gives; optimum 5.
    row = run_smoke(self.root_dir, 'AqlAgent.gamma = 0.9', 'train_eval.num_env_steps = 1000',
                    'train_eval.eval_interval = 1000', 'train_eval.num_eval_episodes = 10',
                    'train_eval.samples_per_insert = 8.0',  # one train step per env step
                    'make_aql_agent.learning_rate = 3e-3')
    self.assertEqual(row['env_steps'], 1000)
    self.assertGreater(row['average_return'], 1.9)

  def test_same_seed_gives_the_same_untrained_policy_and_first_evaluation(self):
    first_rows, actions = [], []
    for name in ('a', 'b'):
      root_dir = os.path.join(self.root_dir, name)
      run_smoke(root_dir, 'train_eval.num_env_steps = 50', 'train_eval.num_eval_episodes = 5')
      first_rows.append(read_rows(root_dir)[0])
      policy = tf.saved_model.load(os.path.join(root_dir, 'policies', 'greedy'))
      observation = tf.one_hot([[0, 1, 2], [3, 2, 1]], 4)  # contexts of 3 sub-actions
      time_step = ts.restart(tf.reshape(observation, [2, 12]), batch_size=2)
      actions.append(policy.action(time_step).action.numpy())
    self.assertEqual(first_rows[0]['train_step'], 0)
    self.assertEqual(first_rows[0]['average_return'], first_rows[1]['average_return'])
    self.assertAllEqual(actions[0], actions[1])

  def test_resume_continues_counters_and_replay(self):
    run_smoke(self.root_dir, 'train_eval.num_env_steps = 100')
    first = read_rows(self.root_dir)
    self.assertEqual(first[-1]['env_steps'], 100)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
      run_smoke(self.root_dir, 'train_eval.num_env_steps = 200')
    self.assertRegex(stderr.getvalue(), r'Resumed from env step 100, train step 25 \(checkpoint '
                     r'.*checkpoints/ckpt-100\)')
    rows = read_rows(self.root_dir)
    self.assertEqual([r['env_steps'] for r in rows], [50, 100, 200])  # nothing counted twice
    self.assertEqual(rows[:2], first)
    self.assertEqual(rows[-1]['train_step'], 75)  # continued from 25, not from 0
    self.assertGreater(rows[-1]['wall_time_s'], first[-1]['wall_time_s'])
    # The replay was restored: it holds the first run's sequences plus the new ones.
    self.assertGreater(rows[-1]['replay_items'], first[-1]['replay_items'] + 50)


  def test_resume_with_another_method_is_refused_before_anything_is_written(self):
    run_smoke(self.root_dir, 'train_eval.num_env_steps = 100')
    files_before = sorted(glob.glob(os.path.join(self.root_dir, '**'), recursive=True))
    gin.clear_config()
    cli.parse_gin([os.path.join(REPO, 'gin', 'methods', 'uniform_ql.gin'), SMOKE],
                  ['train_eval.num_env_steps = 200'])
    with self.assertRaisesRegex(TfAqlError, r'trained with make_aql_agent.search_fn = '
                                r'@AmortizedSearch, but the gin files now give @UniformSearch'):
      train_eval(self.root_dir)
    self.assertEqual(sorted(glob.glob(os.path.join(self.root_dir, '**'), recursive=True)),
                     files_before)
    with self.assertRaisesRegex(TfAqlError, r'tf_aql.CriticNetwork.head_fc_layer_params = '
                                r'\(16,\), but the gin files now give \(32,\)'):
      run_smoke(self.root_dir, 'tf_aql.CriticNetwork.head_fc_layer_params = (32,)')

  def test_corrupt_checkpoint_is_a_clear_error(self):
    run_smoke(self.root_dir, 'train_eval.num_env_steps = 100')
    for index in glob.glob(os.path.join(self.root_dir, 'checkpoints', '*.index')):
      with open(index, 'wb') as f:
        f.write(b'not a checkpoint')
    with self.assertRaisesRegex(TfAqlError, 'Could not restore the checkpoint .* new --root_dir'):
      run_smoke(self.root_dir, 'train_eval.num_env_steps = 200')
    self.assertEqual(read_rows(self.root_dir)[-1]['env_steps'], 100)  # nothing rewritten

  def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(self):
    run_smoke(self.root_dir)  # checkpoints at 100 and 200 env steps
    data = glob.glob(os.path.join(self.root_dir, 'checkpoints', 'ckpt-200.data*'))[0]
    with open(data, 'r+b') as f:
      f.truncate(os.path.getsize(data) // 2)
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
      run_smoke(self.root_dir, 'train_eval.num_env_steps = 300')
    self.assertRegex(stderr.getvalue(), r'Checkpoint .*ckpt-200 does not restore \(.*\); '
                     'trying the previous one')
    self.assertIn('Resumed from env step 100, train step 25', stderr.getvalue())
    self.assertEqual([r['env_steps'] for r in read_rows(self.root_dir)], [50, 100, 200, 300])


class ImpalaTrainEvalTest(tf.test.TestCase):
  """IMPALA through the same loop: unrolls in a queue, one train step per batch of them."""

  def setUp(self):
    super().setUp()
    gin.clear_config()
    self.root_dir = os.path.join(self.get_temp_dir(), self._testMethodName)

  def run_impala(self, *bindings, gin_files=(IMPALA, SMOKE)):
    gin.clear_config()
    cli.parse_gin(list(gin_files), list(bindings))
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
      row = train_eval(self.root_dir)
    return row, stderr.getvalue()

  def test_smoke_run_writes_every_output_and_exports_plainly_loadable_policies(self):
    row, stderr = self.run_impala()
    self.assertIn('ImpalaAgent learns on-policy: the 50 random steps of '
                  'train_eval.initial_collect_steps are skipped', stderr)
    rows = read_rows(self.root_dir)
    self.assertEqual([r['env_steps'] for r in rows], [0, 100, 200])
    # 200 steps of 5-step episodes are 240 frames (a boundary frame per episode); unrolls of
    # 5 + 1 frames with stride 5 start at frames 0, 5, ..., 230: 47 unrolls, 5 batches of 8.
    self.assertEqual(row['train_step'], 5)
    tags = event_tags(os.path.join(self.root_dir, 'train'))
    self.assertContainsSubset({'losses/policy_gradient_loss', 'losses/baseline_loss',
                               'losses/entropy', 'losses/mean_clipped_rho',
                               'perf/learner_steps_per_sec'}, tags)
    # The first batch was collected by the very policy it trains: the behaviour log-probs the
    # collect policy recorded reached the agent iff every clipped rho = min(1, pi/mu) is 1.
    first_step, first_rho = scalar_values(os.path.join(self.root_dir, 'train'),
                                          'losses/mean_clipped_rho')[0]
    self.assertEqual(first_step, 0)
    self.assertAllClose(first_rho, 1.0, atol=1e-5)
    self.assertTrue(os.path.isfile(os.path.join(self.root_dir, 'operative_config.gin')))
    # Both exports run under a bare TensorFlow: no tf_agents, TFP or tf_aql import.
    script = (
        'import collections, os, sys\n'
        'os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"\n'
        'import tensorflow as tf\n'
        'TimeStep = collections.namedtuple(\n'
        '    "TimeStep", ["step_type", "reward", "discount", "observation"])\n'
        'time_step = TimeStep(tf.zeros([2], tf.int32), tf.zeros([2]), tf.ones([2]),\n'
        '                     tf.zeros([2, 12]))\n'
        'for name in ("greedy", "collect"):\n'
        '  policy = tf.saved_model.load(os.path.join(sys.argv[1], "policies", name))\n'
        '  step = policy.action(time_step)\n'
        '  print(name, step.action.shape, tf.nest.map_structure(lambda x: x.shape, step.info))\n'
        'assert not {"tf_agents", "tensorflow_probability", "tf_aql"} & set(sys.modules)\n')
    result = subprocess.run([sys.executable, '-c', script, self.root_dir], capture_output=True,
                            text=True, timeout=120)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn('greedy (2, 3) ()', result.stdout)
    self.assertIn("collect (2, 3) PolicyInfo(log_probability=TensorShape([2]))", result.stdout)

  def test_resume_continues_counters(self):
    self.run_impala('train_eval.num_env_steps = 100')
    first = read_rows(self.root_dir)
    _, stderr = self.run_impala('train_eval.num_env_steps = 200')
    self.assertRegex(stderr, r'Resumed from env step 100, train step 2 \(checkpoint '
                     r'.*checkpoints/ckpt-100\)')
    self.assertNotIn('random steps', stderr)
    rows = read_rows(self.root_dir)
    self.assertEqual([r['env_steps'] for r in rows], [0, 100, 200])
    self.assertEqual(rows[:2], first)
    # 120 frames per 100 steps: 23 unrolls -> 2 train steps per session (the 7 left over at the
    # checkpoint were already in the sampler's hands and are not restored).
    self.assertEqual(rows[-1]['train_step'], 4)
    # The queue's unrolls have T + 1 frames: another T is another run.
    with self.assertRaisesRegex(TfAqlError, r'ImpalaAgent.unroll_length = 5, but the gin files '
                                r'now give 6'):
      self.run_impala('train_eval.num_env_steps = 300', 'ImpalaAgent.unroll_length = 6')

  def test_too_small_queue_is_refused_before_anything_is_written(self):
    with self.assertRaisesRegex(TfAqlError, 'replay_capacity = 4 is too small'):
      self.run_impala('train_eval.replay_capacity = 4')
    self.assertFalse(os.path.exists(self.root_dir))

  def test_cartpole_run_ends_clearly_above_random(self):
    # CartPole-v1: random actions last about 22 steps, the untrained greedy policy 9-14.
    # 12,000 steps at T = 10, B = 4 are about 305 train steps; 40-45 s of run wall time on a
    # core shared with another run. Episodes are cut at 200 steps to bound the evaluation's
    # cost. Seeds 0-2 ended at 196, 146 and 200 (docs/CONFIG.md, IMPALA).
    row, _ = self.run_impala(
        "train_eval.env_name = 'CartPole-v1'", 'train_eval.num_env_steps = 12_000',
        'train_eval.eval_interval = 12_000', 'train_eval.num_eval_episodes = 10',
        'train_eval.collect_steps_per_iteration = 40', 'train_eval.batch_size = 4',
        'train_eval.show_progress = False', 'ImpalaAgent.unroll_length = 10',
        'ImpalaAgent.reward_scale_factor = 0.1', 'make_impala_agent.learning_rate = 2e-3',
        'PolicyValueNetwork.fc_layer_params = (64, 64)',
        'suite_gymnasium.load.max_episode_steps = 200', gin_files=(IMPALA,))
    self.assertEqual(row['env_steps'], 12_000)
    self.assertGreater(row['average_return'], 60.0)


class RunSettingsTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(('num_env_steps', 0), ('num_env_steps', -5), ('batch_size', 2.5),
                            ('eval_interval', True), ('initial_collect_steps', -1),
                            ('samples_per_insert', 0.0), ('samples_per_insert', -2),
                            ('checkpoint_interval', 0), ('seed', 'abc'))
  def test_out_of_range_values_are_refused_before_anything_is_written(self, name, value):
    root_dir = os.path.join(self.get_temp_dir(), f'{name}_{value}')
    gin.clear_config()
    cli.parse_gin([AQL, SMOKE], [f'train_eval.{name} = {value!r}'])
    with self.assertRaisesRegex(TfAqlError, f'train_eval.{name} must be'):
      train_eval(root_dir)
    self.assertFalse(os.path.exists(root_dir))


  def test_train_steps_and_random_steps_by_data_path(self):
    gin.clear_config()
    cli.parse_gin([AQL, SMOKE], [])
    settings = RunSettings.from_gin()
    self.assertEqual(settings.train_steps_for(None), 75)  # (200 - 50) * 4 / 8
    self.assertEqual(settings.train_steps_for(5), 5)  # unrolls: 200 // (5 * 8)
    self.assertEqual(settings.random_steps_for(None), 50)
    self.assertEqual(settings.random_steps_for(5), 0)


class RunFolderTest(tf.test.TestCase):

  def test_a_file_or_a_path_under_a_file_is_a_clear_error(self):
    path = os.path.join(self.get_temp_dir(), 'a_file')
    with open(path, 'w') as f:
      f.write('x')
    with self.assertRaisesRegex(TfAqlError, 'is a file: give the path of a folder'):
      RunFolder(path).create()
    with self.assertRaisesRegex(TfAqlError, r'Cannot create --root_dir .*a_file/run \(Not a '
                                'directory\): choose a folder you can write to'):
      RunFolder(os.path.join(path, 'run')).create()


class TrainedRunTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    self.root_dir = os.path.join(self.get_temp_dir(), self._testMethodName)

  def test_load_trained_run_restores_the_agent_and_counters(self):
    run_smoke(self.root_dir, 'train_eval.num_env_steps = 100')
    checkpoint = tf.train.latest_checkpoint(os.path.join(self.root_dir, 'checkpoints'))
    run = load_trained_run(self.root_dir)
    self.assertEqual(int(run.state.env_step.numpy()), 100)
    self.assertEqual(int(run.state.train_step.numpy()), 25)
    self.assertEqual(run.env_kwargs['num_sub_actions'], 3)
    stored = dict(tf.train.list_variables(checkpoint))
    kernel = run.state.agent.critic_network.trainable_variables[0]
    names = [n for n in stored if 'critic_networks' in n and
             n.endswith('kernel/.ATTRIBUTES/VARIABLE_VALUE') and
             tuple(stored[n]) == tuple(kernel.shape)]
    self.assertNotEmpty(names)
    self.assertTrue(any(np.allclose(tf.train.load_variable(checkpoint, n), kernel.numpy())
                        for n in names))  # the restored values, not a fresh initialization

  def test_load_trained_run_of_a_plain_folder_is_a_clear_error(self):
    with self.assertRaisesRegex(TfAqlError, 'not a tf_aql run folder'):
      load_trained_run(self.get_temp_dir())


class CommandLineErrorsTest(tf.test.TestCase):

  def run_cli(self, root_dir, *args, python_path=None):
    env = dict(os.environ, PYTHONPATH=python_path) if python_path else None
    return subprocess.run(
        [sys.executable, os.path.join(REPO, 'train', 'train_eval.py'), f'--root_dir={root_dir}',
         f'--gin_file={AQL}', f'--gin_file={SMOKE}', *args], capture_output=True, text=True,
        cwd=REPO, timeout=300, env=env)

  def assert_one_line_error(self, result, pattern, root_dir):
    self.assertEqual(result.returncode, 2, result.stderr[-3000:])
    error_lines = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
    self.assertLen(error_lines, 1)
    self.assertRegex(error_lines[0], pattern)
    self.assertNotIn('Traceback', result.stderr)
    self.assertFalse(os.path.exists(root_dir))  # nothing half-written

  def test_unknown_gin_binding_names_it(self):
    root_dir = os.path.join(self.get_temp_dir(), 'bad_binding')
    result = self.run_cli(root_dir, '--gin_bindings=AqlAgent.gamam = 0.5')
    self.assert_one_line_error(result, 'gamam', root_dir)

  def test_wrong_type_binding_is_refused_before_anything_is_written(self):
    root_dir = os.path.join(self.get_temp_dir(), 'bad_type')
    result = self.run_cli(root_dir, "--gin_bindings=train_eval.num_env_steps = 'abc'")
    self.assert_one_line_error(result, "num_env_steps must be a positive integer, got 'abc'",
                               root_dir)

  def test_unknown_environment_id(self):
    root_dir = os.path.join(self.get_temp_dir(), 'bad_env')
    result = self.run_cli(root_dir, "--gin_bindings=train_eval.env_name = 'NoSuchEnv-v9'")
    self.assert_one_line_error(result, 'NoSuchEnv-v9', root_dir)

  def test_file_valued_root_dir_is_refused_and_left_alone(self):
    root_dir = os.path.join(self.get_temp_dir(), 'root_is_a_file')
    with open(root_dir, 'w') as f:
      f.write('keep me')
    result = self.run_cli(root_dir)
    self.assertEqual(result.returncode, 2, result.stderr[-3000:])
    self.assertRegex(result.stderr, r'error: --root_dir .*root_is_a_file is a file')
    self.assertNotIn('Traceback', result.stderr)
    with open(root_dir) as f:
      self.assertEqual(f.read(), 'keep me')

  def test_nan_observation_stops_the_run_naming_the_step_and_keeps_the_checkpoint(self):
    module_dir = self.get_temp_dir()
    with open(os.path.join(module_dir, 'nan_chain.py'), 'w') as f:
      f.write(NAN_CHAIN_MODULE)
    root_dir = os.path.join(self.get_temp_dir(), 'nan_observation')
    result = self.run_cli(root_dir, "--gin_bindings=train_eval.env_name = 'nan_chain:NanChain-v0'",
                          python_path=module_dir)
    self.assertEqual(result.returncode, 2, result.stderr[-3000:])
    error_lines = [l for l in result.stderr.splitlines() if l.startswith('error: ')]
    self.assertLen(error_lines, 1)
    self.assertRegex(error_lines[0], r'NanChain-v0 returned nan in observation\[0\] at step 130 ')
    self.assertNotIn('Traceback', result.stderr)
    for noise in ('[reverb/cc/', 'Gym has been unmaintained', 'Compiled cluster using XLA'):
      self.assertNotIn(noise, result.stderr)  # server start, samplers, a replay checkpoint
    self.assertEqual([r['env_steps'] for r in read_rows(root_dir)], [50, 100])
    self.assertIsNotNone(tf.train.latest_checkpoint(os.path.join(root_dir, 'checkpoints')))


# A gymnasium module whose chain returns a NaN observation at its 130th step (after the 100-step
# checkpoint of gin/smoke.gin).
NAN_CHAIN_MODULE = '''
import gymnasium
import numpy as np
import tf_aql.environments  # registers tf_aql/SubActionChain-v0


class NanAtStep(gymnasium.Wrapper):

  def __init__(self, env, step):
    super().__init__(env)
    self.nan_step, self.steps = step, 0

  def step(self, action):
    observation, reward, terminated, truncated, info = self.env.step(action)
    self.steps += 1
    if self.steps == self.nan_step:
      observation = np.full_like(observation, np.nan)
    return observation, reward, terminated, truncated, info


def make(**kwargs):
  return NanAtStep(gymnasium.make('tf_aql/SubActionChain-v0', **kwargs), 130)


gymnasium.register('NanChain-v0', entry_point=make)
'''


if __name__ == '__main__':
  tf.test.main()
