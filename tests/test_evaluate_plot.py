"""Tests for train/evaluate.py (exported-policy evaluation) and train/plot.py (return curves)."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from types import ModuleType
from typing import List, Sequence, Tuple

from absl.testing import parameterized
import gin
from matplotlib import image
import numpy as np
import tensorflow as tf
from tf_agents.environments import py_environment
from tf_agents.environments import random_py_environment
from tf_agents.policies import policy_saver
from tf_agents.policies import random_tf_policy
from tf_agents.policies import tf_policy
from tf_agents.specs import array_spec
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts
from tf_agents.typing import types

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PYTHON = sys.executable


def _load_script(name: str) -> ModuleType:
  """Imports train/<name>.py once per process (its absl flags can be defined only once)."""
  module_name = f'_train_{name}'
  if module_name not in sys.modules:
    spec = importlib.util.spec_from_file_location(
        module_name, os.path.join(_REPO_ROOT, 'train', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
  return sys.modules[module_name]


evaluate = _load_script('evaluate')
plot = _load_script('plot')


def _run_script(name: str, *args: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')
  return subprocess.run([_PYTHON, os.path.join('train', f'{name}.py'), *args], cwd=_REPO_ROOT,
                        env=env, capture_output=True, text=True, timeout=120, check=False)


def _new_dir(test: tf.test.TestCase) -> str:
  """A new empty directory inside the test's temporary directory."""
  return tempfile.mkdtemp(dir=test.get_temp_dir())


def _error_lines(stderr: str) -> List[str]:
  return [line for line in stderr.splitlines() if line.startswith('error:')]


# --- evaluate -----------------------------------------------------------------------------


class _StepCounterEnv(py_environment.PyEnvironment):
  """Observation [1] = steps taken in the episode; reward = the action; ends after `length`."""

  def __init__(self, length: int):
    super().__init__()
    self._length = length
    self._num_steps = 0

  def observation_spec(self) -> array_spec.ArraySpec:
    return array_spec.ArraySpec([1], np.float32, name='observation')

  def action_spec(self) -> array_spec.BoundedArraySpec:
    return array_spec.BoundedArraySpec((), np.int64, 0, 10, name='action')

  def _observation(self) -> np.ndarray:
    return np.array([self._num_steps], dtype=np.float32)

  def _reset(self) -> ts.TimeStep:
    self._num_steps = 0
    return ts.restart(self._observation())

  def _step(self, action: types.NestedArray) -> ts.TimeStep:
    self._num_steps += 1
    reward = np.float32(action)
    if self._num_steps >= self._length:
      return ts.termination(self._observation(), reward)
    return ts.transition(self._observation(), reward)


class _ObservationPlusCounterPolicy(tf_policy.TFPolicy):
  """Stateful: action = observation[0] + state, state counts the steps since the initial state.

  On `_StepCounterEnv` step t of an episode sees observation t and state t, so it plays 2t, and
  an episode of L steps returns sum_{t<L} 2t = L (L - 1), provided the state is fed back
  (TFPolicy.action resets it at FIRST steps).
  """

  def __init__(self, time_step_spec: ts.TimeStep, action_spec: types.NestedTensorSpec):
    super().__init__(time_step_spec, action_spec,
                     policy_state_spec=tf.TensorSpec((), tf.int64, name='counter'))

  def _variables(self) -> List[tf.Variable]:
    return []

  def _action(self, time_step: ts.TimeStep, policy_state: types.NestedTensor,
              seed: types.Seed = None) -> policy_step.PolicyStep:
    del seed
    observation = tf.cast(time_step.observation[:, 0], tf.int64)  # [B]
    return policy_step.PolicyStep(action=observation + policy_state, state=policy_state + 1)

  def _distribution(self, time_step, policy_state):
    raise NotImplementedError('Deterministic test policy.')


def _export(policy: tf_policy.TFPolicy, path: str) -> str:
  policy_saver.PolicySaver(policy, batch_size=None).save(path)
  return path


def _random_policy_for(env: py_environment.PyEnvironment) -> tf_policy.TFPolicy:
  return random_tf_policy.RandomTFPolicy(
      tensor_spec.from_spec(env.time_step_spec()), tensor_spec.from_spec(env.action_spec()))


class EvaluateTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  def test_stateful_policy_return_worked_out_by_hand(self):
    env = _StepCounterEnv(length=4)
    policy = _ObservationPlusCounterPolicy(
        tensor_spec.from_spec(env.time_step_spec()), tensor_spec.from_spec(env.action_spec()))
    policy_dir = _export(policy, _new_dir(self))

    result = evaluate.evaluate_saved_policy(policy_dir, num_episodes=2, env=env)

    # Actions 0, 2, 4, 6 in each episode: 12 (0, 1, 2, 3 = 6 if the state were not fed back).
    self.assertAllClose(result['returns'], [12.0, 12.0])
    self.assertAllClose(result['average_return'], 12.0)
    self.assertAllClose(result['std_return'], 0.0)
    self.assertEqual(result['episode_lengths'], [4, 4])
    self.assertAllClose(result['mean_episode_length'], 4.0)
    self.assertEqual(result['num_episodes'], 2)

  def test_constant_reward_return_is_reward_times_length(self):
    env = random_py_environment.RandomPyEnvironment(
        array_spec.BoundedArraySpec([3], np.float32, -1.0, 1.0, name='observation'),
        array_spec.BoundedArraySpec((), np.int64, 0, 2, name='action'),
        episode_end_probability=0.3, reward_fn=lambda *_: np.float32(2.0), seed=7)
    policy_dir = _export(_random_policy_for(env), _new_dir(self))

    result = evaluate.evaluate_saved_policy(policy_dir, num_episodes=5, env=env)

    lengths = np.array(result['episode_lengths'], dtype=np.float64)
    self.assertTrue(np.all(lengths >= 1))
    self.assertAllClose(result['returns'], 2.0 * lengths)
    self.assertAllClose(result['average_return'], 2.0 * lengths.mean())
    self.assertAllClose(result['std_return'], 2.0 * lengths.std())

  def test_gymnasium_env_by_name(self):
    env = evaluate._load_environment('CartPole-v1', None, None, None, seed=0)
    policy_dir = _export(_random_policy_for(env), _new_dir(self))
    env.close()

    result = evaluate.evaluate_saved_policy(
        policy_dir, env_name='CartPole-v1', num_episodes=3, seed=0)

    self.assertEqual(result['num_episodes'], 3)
    self.assertLen(result['returns'], 3)
    # CartPole pays 1 per step, so each return is its episode's length.
    self.assertAllClose(result['returns'], result['episode_lengths'])
    self.assertAllClose(result['average_return'], result['mean_episode_length'])

  def test_discretized_env_with_time_limit(self):
    env = evaluate._load_environment('Pendulum-v1', 5, None, None, seed=0)
    policy_dir = _export(_random_policy_for(env), _new_dir(self))
    env.close()

    result = evaluate.evaluate_saved_policy(
        policy_dir, env_name='Pendulum-v1', num_episodes=1, seed=0, discretize_bins=5,
        max_episode_steps=7)

    self.assertEqual(result['episode_lengths'], [7])
    self.assertLess(result['average_return'], 0.0)  # Pendulum's rewards are <= 0.

    with self.assertRaisesRegex(evaluate.EvaluationError,
                                r'does not match the policy.*action bounds'):
      evaluate.evaluate_saved_policy(
          policy_dir, env_name='Pendulum-v1', num_episodes=1, discretize_bins=7)

  def test_observation_mismatch_is_reported(self):
    policy_dir = _export(_random_policy_for(_StepCounterEnv(length=2)),
                         _new_dir(self))
    env = random_py_environment.RandomPyEnvironment(
        array_spec.ArraySpec([3], np.float32, name='observation'),
        array_spec.BoundedArraySpec((), np.int64, 0, 10, name='action'))

    with self.assertRaisesRegex(
        evaluate.EvaluationError,
        r'time step observation has shape \(3,\).*the policy expects shape \(1,\)'):
      evaluate.evaluate_saved_policy(policy_dir, num_episodes=1, env=env)

  def test_missing_policy_dir(self):
    missing = os.path.join(_new_dir(self), 'policies', 'greedy')
    with self.assertRaisesRegex(
        evaluate.EvaluationError,
        f'^No exported policy at {missing}: expected a SavedModel written by train_eval under '
        r'<root_dir>/policies/greedy\.$'):
      evaluate.evaluate_saved_policy(missing, env=_StepCounterEnv(length=2))

  def test_run_folder_instead_of_policy_dir_gets_a_hint(self):
    root_dir = _new_dir(self)
    _export(_random_policy_for(_StepCounterEnv(length=2)),
            os.path.join(root_dir, 'policies', 'greedy'))
    with self.assertRaisesRegex(evaluate.EvaluationError,
                                'did you mean --policy_dir=.*policies/greedy'):
      evaluate.evaluate_saved_policy(root_dir, env=_StepCounterEnv(length=2))

  def test_invalid_arguments(self):
    with self.assertRaisesRegex(evaluate.EvaluationError, 'num_episodes must be >= 1'):
      evaluate.evaluate_saved_policy('unused', env=_StepCounterEnv(length=2), num_episodes=0)
    with self.assertRaisesRegex(evaluate.EvaluationError, 'exactly one of env_name and env'):
      evaluate.evaluate_saved_policy('unused', num_episodes=1)

  def test_command_line(self):
    env = evaluate._load_environment('CartPole-v1', None, None, None, seed=0)
    root_dir = _new_dir(self)
    policy_dir = _export(_random_policy_for(env), os.path.join(root_dir, 'policies', 'greedy'))
    env.close()

    done = _run_script('evaluate', f'--policy_dir={policy_dir}', '--env_name=CartPole-v1',
                       '--num_episodes=2', '--seed=0')
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertRegex(done.stdout.strip(),
                     r'^average_return=[\d.]+ std=[\d.]+ episodes=2 mean_length=[\d.]+$')

    failed = _run_script('evaluate', f'--policy_dir={root_dir}/nowhere', '--env_name=CartPole-v1')
    self.assertEqual(failed.returncode, 2)
    self.assertNotIn('Traceback', failed.stderr)
    self.assertLen(_error_lines(failed.stderr), 1)
    self.assertIn(f'error: No exported policy at {root_dir}/nowhere', failed.stderr)


# --- plot ---------------------------------------------------------------------------------


def _write_run(run_dir: str, steps: Sequence[int], returns: Sequence[float]) -> str:
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, 'eval_metrics.jsonl'), 'w') as f:
    for i, (step, value) in enumerate(zip(steps, returns)):
      f.write(json.dumps({'env_steps': step, 'train_step': step // 4, 'average_return': value,
                          'average_episode_length': 200.0, 'num_episodes': 10,
                          'wall_time_s': 1.5 * i}) + '\n')
  return run_dir


def _fake_runs(root: str) -> Tuple[List[str], List[str]]:
  """2 configs x 2 seeds with different evaluation steps; returns (aql dirs, dqn dirs)."""
  rng = np.random.default_rng(0)
  aql, dqn = [], []
  for seed in range(2):
    steps = list(range(seed * 500, 20_001, 1_000))
    aql.append(_write_run(os.path.join(root, f'aql_seed{seed}'), steps,
                          list(-1000.0 + 0.04 * np.array(steps) + rng.normal(0, 30, len(steps)))))
    dqn.append(_write_run(os.path.join(root, f'dqn-seed{seed}'), steps,
                          list(-1200.0 + 0.02 * np.array(steps) + rng.normal(0, 30, len(steps)))))
  return aql, dqn


class PlotTest(tf.test.TestCase, parameterized.TestCase):

  def test_plot_runs_writes_png(self):
    aql, dqn = _fake_runs(_new_dir(self))
    output = os.path.join(_new_dir(self), 'figures', 'curves.png')

    plot.plot_runs({'AQL': aql, 'DQN': dqn, 'AQL seed 0': aql[:1]}, output, title='Pendulum')

    self.assertGreater(os.path.getsize(output), 10_000)
    pixels = image.imread(output)
    width, height = plot.FIGURE_SIZE_INCHES
    self.assertEqual(pixels.shape, (int(height * plot.DPI), int(width * plot.DPI), 4))
    self.assertGreater(np.std(pixels[..., :3]), 0.01)  # Not a blank canvas.

  def test_references_parse_and_draw(self):
    self.assertEqual(plot.parse_references(['random policy=1.0', 'a=b=-2.5']),
                     [('random policy', 1.0), ('a=b', -2.5)])
    for bad in ('no equals sign', '=1.0', 'random=high'):
      with self.assertRaisesRegex(plot.PlotError, 'LABEL=VALUE'):
        plot.parse_references([bad])
    aql, _ = _fake_runs(_new_dir(self))
    plain = os.path.join(_new_dir(self), 'plain.png')
    with_line = os.path.join(_new_dir(self), 'line.png')
    plot.plot_runs({'AQL': aql}, plain)
    plot.plot_runs({'AQL': aql}, with_line, references=[('ceiling', 0.0)])
    self.assertFalse(np.array_equal(image.imread(plain), image.imread(with_line)))

  @parameterized.named_parameters(
      ('underscore_and_dash', ['r/aql_seed0', 'r/dqn-seed0', 'r/aql_seed1', 'r/dqn-seed12'],
       {'aql': ['r/aql_seed0', 'r/aql_seed1'], 'dqn': ['r/dqn-seed0', 'r/dqn-seed12']}),
      ('bare_suffix', ['r/aqlseed3', 'r/aqlseed4'], {'aql': ['r/aqlseed3', 'r/aqlseed4']}),
      ('seed_folders', ['r/aql/seed0', 'r/aql/seed1/'], {'aql': ['r/aql/seed0', 'r/aql/seed1/']}),
      ('no_suffix', ['r/aql', 'r/aql_seed0', 'r/seedless'],
       {'aql': ['r/aql', 'r/aql_seed0'], 'seedless': ['r/seedless']}),
      ('same_name_other_parent', ['a/x_seed0', 'b/x_seed0', 'a/x_seed1'],
       {'a/x': ['a/x_seed0', 'a/x_seed1'], 'b/x': ['b/x_seed0']}),
  )
  def test_group_by_seed_suffix(self, run_dirs, expected):
    groups = plot.group_by_seed_suffix(run_dirs)
    self.assertEqual(dict(groups), expected)
    self.assertEqual(list(groups), list(expected))  # In order of first appearance.

  def test_make_groups(self):
    run_dirs = ['r/aql_seed0', 'r/dqn_seed0', 'r/aql_seed1']
    self.assertEqual(dict(plot.make_groups(run_dirs, ['AQL', 'DQN'])),
                     {'AQL': ['r/aql_seed0', 'r/aql_seed1'], 'DQN': ['r/dqn_seed0']})
    self.assertEqual(list(plot.make_groups(run_dirs, group_seeds=False)),
                     ['aql_seed0', 'dqn_seed0', 'aql_seed1'])
    with self.assertRaisesRegex(plot.PlotError, '3 labels for 2 groups'):
      plot.make_groups(run_dirs, ['a', 'b', 'c'])
    with self.assertRaisesRegex(plot.PlotError, 'given more than once: r/aql_seed0'):
      plot.make_groups(['r/aql_seed0', 'r/aql_seed0/'])

  def test_aggregate_curves_on_common_grid(self):
    curves = [(np.array([0.0, 10.0, 20.0]), np.array([0.0, 10.0, 20.0])),
              (np.array([5.0, 15.0, 25.0]), np.array([1.0, 1.0, 1.0]))]
    grid, mean, low, high = plot.aggregate_curves(curves)
    self.assertAllClose(grid, [5.0, 10.0, 15.0, 20.0])  # The overlap [5, 20], no extrapolation.
    self.assertAllClose(low, [1.0, 1.0, 1.0, 1.0])
    self.assertAllClose(high, [5.0, 10.0, 15.0, 20.0])
    self.assertAllClose(mean, [3.0, 5.5, 8.0, 10.5])

    with self.assertRaisesRegex(plot.PlotError, 'do not overlap'):
      plot.aggregate_curves([(np.array([0.0, 1.0]), np.zeros(2)),
                             (np.array([2.0, 3.0]), np.zeros(2))])

  def test_load_eval_metrics_and_curve(self):
    run_dir = _write_run(_new_dir(self), [2000, 1000, 2000], [3.0, 1.0, 2.0])
    with open(os.path.join(run_dir, 'eval_metrics.jsonl'), 'a') as f:
      f.write('\n{"env_steps": 3000, "average_ret')  # A run killed mid-append.

    rows = plot.load_eval_metrics(run_dir)

    self.assertEqual([r['env_steps'] for r in rows], [2000, 1000, 2000])
    steps, returns = plot.return_curve(rows)
    self.assertAllClose(steps, [1000.0, 2000.0])
    self.assertAllClose(returns, [1.0, 2.0])  # The later row for a repeated step wins.

  def test_load_eval_metrics_errors(self):
    run_dir = _new_dir(self)
    with self.assertRaisesRegex(plot.PlotError, f'^No eval_metrics.jsonl in {run_dir}'):
      plot.load_eval_metrics(run_dir)
    path = os.path.join(run_dir, 'eval_metrics.jsonl')
    with open(path, 'w') as f:
      f.write('\n')
    with self.assertRaisesRegex(plot.PlotError, 'has no evaluation rows'):
      plot.load_eval_metrics(run_dir)
    with open(path, 'w') as f:
      f.write('{"env_steps": 1,\n{"env_steps": 2, "average_return": 0.5}\n')
    with self.assertRaisesRegex(plot.PlotError, 'line 1 is not valid JSON'):
      plot.load_eval_metrics(run_dir)
    with open(path, 'w') as f:
      f.write('{"env_steps": 2}\n')
    with self.assertRaisesRegex(plot.PlotError, 'line 1 has no average_return'):
      plot.load_eval_metrics(run_dir)
    with self.assertRaisesRegex(plot.PlotError, 'No eval_metrics.jsonl in'):
      plot.plot_runs({'x': [os.path.join(run_dir, 'missing')]},
                     os.path.join(run_dir, 'out.png'))

  def test_command_line(self):
    root = _new_dir(self)
    aql, dqn = _fake_runs(root)
    output = os.path.join(root, 'curves.png')

    done = _run_script('plot', f'--run_dirs={",".join(aql + dqn)}', '--labels=AQL,DQN',
                       f'--output={output}', '--title=Pendulum-v1')
    self.assertEqual(done.returncode, 0, done.stderr)
    self.assertIn('AQL: 2 run(s); DQN: 2 run(s)', done.stdout)
    self.assertGreater(os.path.getsize(output), 10_000)

    failed = _run_script('plot', f'--run_dirs={root}/nowhere_seed0', f'--output={output}')
    self.assertEqual(failed.returncode, 2)
    self.assertNotIn('Traceback', failed.stderr)
    self.assertEqual(_error_lines(failed.stderr),
                     [f'error: No eval_metrics.jsonl in {root}/nowhere_seed0: expected a run '
                      'folder written by train_eval (it appends a row after every evaluation).'])


if __name__ == '__main__':
  tf.test.main()
