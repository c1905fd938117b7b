"""Tests for tf_aql.environments.suite_gymnasium and tf_aql.environments.discretize."""

import contextlib
import io
import os
import sys
from typing import Any, Dict, Optional

from absl.testing import parameterized
import gin
import gymnasium
import numpy as np
import tensorflow as tf
from tf_agents.environments import utils as env_utils
from tf_agents.specs import array_spec
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from tf_aql.action_space import ActionSpace, UnsupportedActionSpecError
from tf_aql.environments import DiscretizeBoxAction
from tf_aql.environments import GymnasiumEnvironment
from tf_aql.environments import load
from tf_aql.environments.finite_check import NonFiniteDataError
from tf_aql.environments.suite_gymnasium import action_spec_from_space

_SUPPORTED = r'tf_aql supports Box \(bounded, shape \(\) or \[D\]\), Discrete and MultiDiscrete'


class _RecordingEnv(gymnasium.Env):
  """A tiny env with the given spaces; records the action it receives.

  Observations are drawn from `np_random`. The episode ends after `episode_length` steps with
  `terminated` (end='terminated') or `truncated` (end='truncated').
  """

  metadata = {'render_modes': ['rgb_array']}

  def __init__(self, action_space: gymnasium.Space,
               observation_space: Optional[gymnasium.Space] = None, episode_length: int = 3,
               end: str = 'terminated', render_mode: Optional[str] = None):
    self.action_space = action_space
    self.observation_space = observation_space or gymnasium.spaces.Box(-1.0, 1.0, (2,))
    self.episode_length = episode_length
    self.end = end
    self.render_mode = render_mode
    self.received_actions = []
    self.closed = False
    self._num_steps = 0

  def reset(self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None):
    super().reset(seed=seed)
    self._num_steps = 0
    return self.observation_space.sample(), {'num_steps': 0}

  def step(self, action):
    self.received_actions.append(action)
    self._num_steps += 1
    done = self._num_steps >= self.episode_length
    observation = self.observation_space.sample()
    return (observation, 0.5, done and self.end == 'terminated',
            done and self.end == 'truncated', {'num_steps': self._num_steps})

  def render(self):
    return np.zeros([2, 3, 3], dtype=np.uint8)

  def close(self):
    self.closed = True


class _NonFiniteEnv(_RecordingEnv):
  """A `_RecordingEnv` whose step `bad_step` (counted over episodes) returns `value` in
  `field`: 'reward', or 'observation' at entry 1."""

  def __init__(self, field: str, bad_step: int, value: float = np.nan):
    super().__init__(gymnasium.spaces.Discrete(2), episode_length=3)
    self.field, self.bad_step, self.value, self.total_steps = field, bad_step, value, 0

  def step(self, action):
    observation, reward, terminated, truncated, info = super().step(action)
    self.total_steps += 1
    if self.total_steps == self.bad_step:
      if self.field == 'reward':
        reward = self.value
      else:
        observation = observation.copy()
        observation[1] = self.value
    return observation, reward, terminated, truncated, info


class NonFiniteTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(('reward', np.nan, r'returned nan in reward at step 5 \(episode 2\)'),
                            ('observation', np.inf,
                             r'returned inf in observation\[1\] at step 4 \(episode 2\)'))
  def test_first_non_finite_value_stops_with_the_step_and_the_field(self, field, value, message):
    bad_step = 5 if field == 'reward' else 4
    env = GymnasiumEnvironment(_NonFiniteEnv(field, bad_step, value), seed=0)
    env.reset()
    with self.assertRaisesRegex(NonFiniteDataError, message + ".*on_non_finite = 'warn'"):
      for _ in range(bad_step + 1):  # episodes of 3 steps; TF-Agents' auto-reset takes a call
        env.step(np.int64(0))
    self.assertEqual(env.gym_env.total_steps, bad_step)  # not one step before

  def test_warn_reports_once_and_passes_the_value_on(self):
    env = GymnasiumEnvironment(_NonFiniteEnv('observation', 1), seed=0, on_non_finite='warn')
    env.reset()
    with contextlib.redirect_stderr(io.StringIO()) as stderr:
      first = env.step(np.int64(0))
      env.step(np.int64(0))
    self.assertTrue(np.isnan(first.observation[1]))
    self.assertEqual(stderr.getvalue().count('warning:'), 1)
    nan_reward = GymnasiumEnvironment(_NonFiniteEnv('reward', 1), seed=0, on_non_finite='warn')
    nan_reward.reset()
    with self.assertRaisesRegex(NonFiniteDataError, 'nan in reward'):
      nan_reward.step(np.int64(0))  # TF-Agents' time steps cannot hold a NaN reward

  def test_unknown_mode_is_a_load_error(self):
    with self.assertRaisesRegex(ValueError, "on_non_finite must be one of .* got 'stop'"):
      load('CartPole-v1', on_non_finite='stop')


class SuiteGymnasiumTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  # --- supported spaces --------------------------------------------------------------------

  @parameterized.named_parameters(
      ('box_pendulum', 'Pendulum-v1', {}, (1,), np.float32, [-2.0], [2.0]),
      ('discrete_cartpole', 'CartPole-v1', {}, (), np.int64, 0, 1),
      ('multi_discrete_synthetic', 'tf_aql/SubActionChain-v0',
       {'num_sub_actions': 3, 'num_values': 4}, (3,), np.int64, [0, 0, 0], [3, 3, 3]),
  )
  def test_registered_env_specs_and_validation(self, env_name, env_kwargs, shape, dtype,
                                               minimum, maximum):
    env = load(env_name, env_kwargs=env_kwargs, max_episode_steps=20, seed=0)
    spec = env.action_spec()
    self.assertEqual(spec.shape, shape)
    self.assertEqual(spec.dtype, dtype)
    self.assertAllEqual(np.broadcast_to(spec.minimum, shape), minimum)
    self.assertAllEqual(np.broadcast_to(spec.maximum, shape), maximum)
    self.assertEqual(env.observation_spec().dtype, np.float32)
    env_utils.validate_py_environment(env, episodes=2)

  @parameterized.named_parameters(
      ('discrete_with_start', gymnasium.spaces.Discrete(3, start=-1), (), -1, 1,
       [-1, 1, 0]),
      ('multi_discrete_with_start', gymnasium.spaces.MultiDiscrete([2, 3], start=[1, -2]), (2,),
       [1, -2], [2, 0], [[1, -2], [2, 0], [2, -1]]),
      ('box_scalar', gymnasium.spaces.Box(-2.0, 3.0, ()), (), -2.0, 3.0, [-2.0, 3.0, 0.5]),
      ('box_vector', gymnasium.spaces.Box(np.array([-1.0, 0.0]), np.array([1.0, 4.0])), (2,),
       [-1.0, 0.0], [1.0, 4.0], [[-1.0, 4.0], [1.0, 0.0], [0.25, 2.0]]),
  )
  def test_action_spaces_round_trip(self, space, shape, minimum, maximum, actions):
    gym_env = _RecordingEnv(space, episode_length=10)
    env = GymnasiumEnvironment(gym_env, seed=0)
    spec = env.action_spec()
    self.assertEqual(spec.shape, shape)
    self.assertAllEqual(spec.minimum, minimum)
    self.assertAllEqual(spec.maximum, maximum)
    env.reset()
    for action in actions:
      env.step(np.asarray(action, dtype=spec.dtype))
    received = np.stack([np.asarray(a) for a in gym_env.received_actions])
    self.assertAllEqual(received, actions)
    self.assertTrue(all(space.contains(a) for a in gym_env.received_actions))
    env_utils.validate_py_environment(env, episodes=2)

  def test_discrete_observation_space(self):
    env = GymnasiumEnvironment(_RecordingEnv(
        gymnasium.spaces.Discrete(2), gymnasium.spaces.Discrete(5, start=2)), seed=0)
    spec = env.observation_spec()
    self.assertEqual((spec.shape, spec.dtype, spec.minimum, spec.maximum), ((), np.int64, 2, 6))
    env_utils.validate_py_environment(env, episodes=2)

  def test_unbounded_observation_box_gives_array_spec(self):
    env = load('CartPole-v1')  # Its velocities are unbounded.
    self.assertNotIsInstance(env.observation_spec(), array_spec.BoundedArraySpec)
    self.assertEqual(env.observation_spec().shape, (4,))

  # --- unsupported spaces ------------------------------------------------------------------

  @parameterized.named_parameters(
      ('nested_dict', gymnasium.spaces.Dict({'a': gymnasium.spaces.Dict(
          {'b': gymnasium.spaces.Discrete(2)})})),
      ('tuple_in_tuple', gymnasium.spaces.Tuple([gymnasium.spaces.Tuple(
          [gymnasium.spaces.Discrete(2)])])),
      ('empty_dict', gymnasium.spaces.Dict({})),
      ('dict_with_multi_binary', gymnasium.spaces.Dict({
          'a': gymnasium.spaces.Discrete(2), 'b': gymnasium.spaces.MultiBinary(3)})),
      ('tuple_with_unbounded_box', gymnasium.spaces.Tuple([
          gymnasium.spaces.Discrete(2), gymnasium.spaces.Box(-np.inf, np.inf, (2,))])),
      ('multi_binary', gymnasium.spaces.MultiBinary(3)),
      ('unbounded_box', gymnasium.spaces.Box(-np.inf, np.inf, (2,))),
      ('half_bounded_box', gymnasium.spaces.Box(np.array([-1.0, 0.0]), np.array([1.0, np.inf]))),
      ('matrix_box', gymnasium.spaces.Box(-1.0, 1.0, (2, 2))),
      ('matrix_multi_discrete', gymnasium.spaces.MultiDiscrete([[2, 2], [2, 2]])),
  )
  def test_unsupported_action_space_raises(self, space):
    with self.assertRaises(UnsupportedActionSpecError) as raised:
      GymnasiumEnvironment(_RecordingEnv(space))
    message = str(raised.exception)
    self.assertIn(' '.join(repr(space).split()), message)  # On one line.
    self.assertNotIn('\n', message)
    self.assertRegex(message, '^Unsupported action space .*' + _SUPPORTED)

  def test_dict_and_tuple_actions_map_to_nested_specs_and_back(self):
    dict_space = gymnasium.spaces.Dict({
        'tool': gymnasium.spaces.Discrete(3, start=1),
        'force': gymnasium.spaces.Box(-2.0, 2.0, (2,)),
        'mode': gymnasium.spaces.MultiDiscrete([2, 4])})
    env = GymnasiumEnvironment(_RecordingEnv(dict_space), seed=0)
    spec = env.action_spec()
    self.assertEqual(sorted(spec), ['force', 'mode', 'tool'])
    self.assertEqual((spec['tool'].shape, spec['tool'].dtype, int(spec['tool'].minimum),
                      int(spec['tool'].maximum)), ((), np.int64, 1, 3))
    self.assertEqual((spec['force'].shape, spec['force'].dtype), ((2,), np.float32))
    self.assertAllEqual(spec['mode'].maximum, [1, 3])
    env.reset()
    env.step({'tool': np.int64(3), 'force': np.array([0.5, -1.0], np.float32),
              'mode': np.array([1, 2], np.int64)})
    received = env.gym_env.received_actions[-1]
    self.assertEqual(received['tool'], 3)
    self.assertIsInstance(received['tool'], int)
    self.assertAllClose(received['force'], [0.5, -1.0])
    self.assertAllEqual(received['mode'], [1, 2])
    self.assertTrue(dict_space.contains(received))

    tuple_space = gymnasium.spaces.Tuple([gymnasium.spaces.Discrete(2),
                                          gymnasium.spaces.Box(0.0, 1.0, ())])
    env = GymnasiumEnvironment(_RecordingEnv(tuple_space), seed=0)
    self.assertEqual([s.name for s in env.action_spec()], ['action_0', 'action_1'])
    env.reset()
    env.step((np.int64(1), np.float32(0.25)))
    received = env.gym_env.received_actions[-1]
    self.assertTrue(tuple_space.contains(received))
    self.assertEqual(received[0], 1)

  def test_unsupported_observation_space_raises(self):
    space = gymnasium.spaces.Dict({'a': gymnasium.spaces.Discrete(2)})
    with self.assertRaisesRegex(ValueError,
                                'Unsupported observation space Dict.*Box and Discrete'):
      GymnasiumEnvironment(_RecordingEnv(gymnasium.spaces.Discrete(2), space))

  # --- step semantics ----------------------------------------------------------------------

  @parameterized.named_parameters(('terminated', 'terminated', 0.0),
                                  ('truncated', 'truncated', 1.0))
  def test_episode_end(self, end, last_discount):
    env = GymnasiumEnvironment(
        _RecordingEnv(gymnasium.spaces.Discrete(2), episode_length=2, end=end), seed=0)
    first = env.reset()
    mid = env.step(np.int64(0))
    last = env.step(np.int64(1))
    after = env.step(np.int64(1))  # Auto reset: the action is ignored.
    self.assertEqual(first.step_type, ts.StepType.FIRST)
    self.assertEqual((mid.step_type, mid.discount), (ts.StepType.MID, 1.0))
    self.assertEqual((last.step_type, last.discount), (ts.StepType.LAST, last_discount))
    self.assertEqual(after.step_type, ts.StepType.FIRST)
    self.assertEqual(len(env.gym_env.received_actions), 2)
    self.assertEqual((last.reward.dtype, last.discount.dtype), (np.float32, np.float32))
    self.assertAllClose(last.reward, 0.5)

  def test_time_limit_truncates(self):
    env = load('Pendulum-v1', max_episode_steps=3, seed=0)
    env.reset()
    steps = [env.step(np.zeros([1], np.float32)) for _ in range(3)]
    self.assertEqual([int(s.step_type) for s in steps], [1, 1, 2])
    self.assertEqual(float(steps[-1].discount), 1.0)

  # --- passthroughs ------------------------------------------------------------------------

  def test_info_render_close(self):
    gym_env = _RecordingEnv(gymnasium.spaces.Discrete(2), render_mode='rgb_array')
    env = GymnasiumEnvironment(gym_env)
    self.assertIs(env.gym_env, gym_env)
    env.reset()
    self.assertEqual(env.get_info(), {'num_steps': 0})
    env.step(np.int64(1))
    self.assertEqual(env.get_info(), {'num_steps': 1})
    self.assertEqual(env.render().shape, (2, 3, 3))
    with self.assertRaisesRegex(ValueError, "render_mode='rgb_array'.*env_kwargs"):
      env.render('human')
    env.close()
    self.assertTrue(gym_env.closed)

  # --- discretization ----------------------------------------------------------------------

  def test_discretize_maps_bins_to_evenly_spaced_values_with_bounds(self):
    box = gymnasium.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 4.0], np.float32))
    gym_env = _RecordingEnv(box, episode_length=10)
    env = GymnasiumEnvironment(DiscretizeBoxAction(gym_env, 5), seed=0)
    spec = env.action_spec()
    self.assertEqual((spec.shape, spec.dtype), ((2,), np.int64))
    self.assertAllEqual((spec.minimum, spec.maximum), ([0, 0], [4, 4]))
    env.reset()
    for action in ([0, 4], [4, 0], [1, 2], [3, 1]):
      env.step(np.asarray(action, np.int64))
    received = np.stack(gym_env.received_actions)
    self.assertEqual(received.dtype, np.float32)
    self.assertAllEqual(received[0], [-1.0, 4.0])  # Bin 0 -> low, bin K-1 -> high, exactly.
    self.assertAllEqual(received[1], [1.0, 0.0])
    self.assertAllClose(received[2:], [[-0.5, 2.0], [0.5, 1.0]])

  def test_discretize_paper_example_and_scalar_box(self):
    gym_env = _RecordingEnv(gymnasium.spaces.Box(-1.0, 1.0, ()))
    wrapped = DiscretizeBoxAction(gym_env, 11)
    self.assertEqual(wrapped.action_space, gymnasium.spaces.MultiDiscrete([11]))
    self.assertAllClose(wrapped.bin_values[0], [-1.0, -0.8, -0.6, -0.4, -0.2, 0.0,
                                                0.2, 0.4, 0.6, 0.8, 1.0])
    self.assertEqual(wrapped.action(np.array([10])), 1.0)
    self.assertEqual(wrapped.action(np.array([0])), -1.0)
    self.assertEqual(wrapped.action(np.array([0])).shape, ())

  def test_load_discretizes_pendulum(self):
    env = load('Pendulum-v1', discretize_bins=3, max_episode_steps=5, seed=0)
    self.assertEqual(env.action_spec().shape, (1,))
    self.assertEqual(int(env.action_spec().maximum[0]), 2)
    env.reset()
    env.step(np.array([2], np.int64))
    self.assertAllClose(env.gym_env.unwrapped.last_u, 2.0)
    env_utils.validate_py_environment(env, episodes=1)

  def test_discretized_actions_are_declared_ordered(self):
    discretized = ActionSpace(tensor_spec.from_spec(
        load('Pendulum-v1', discretize_bins=5).action_spec()))
    self.assertTrue(discretized.ordered)
    self.assertAllClose(discretized.ordinal_values(), [[-1.0, -0.5, 0.0, 0.5, 1.0]])
    multi_discrete = ActionSpace(tensor_spec.from_spec(action_spec_from_space(
        gymnasium.spaces.MultiDiscrete([3, 2]))))
    self.assertFalse(multi_discrete.ordered)  # no order known: the critic stays one-hot
    # Per-dimension value counts: each row spans [-1, 1] over its own values.
    self.assertAllClose(multi_discrete.ordinal_values(), [[-1.0, 0.0, 1.0], [-1.0, 1.0, 3.0]])

  @parameterized.named_parameters(('one', 1), ('zero', 0), ('float', 2.5))
  def test_discretize_bad_num_bins_raises(self, num_bins):
    with self.assertRaisesRegex(ValueError, 'discretize_bins must be an integer >= 2'):
      DiscretizeBoxAction(_RecordingEnv(gymnasium.spaces.Box(-1.0, 1.0, (2,))), num_bins)

  @parameterized.named_parameters(
      ('discrete', gymnasium.spaces.Discrete(3)),
      ('unbounded_box', gymnasium.spaces.Box(-np.inf, np.inf, (2,))))
  def test_discretize_unsupported_space_raises(self, space):
    with self.assertRaisesRegex(UnsupportedActionSpecError, 'Cannot discretize the action space'):
      DiscretizeBoxAction(_RecordingEnv(space), 5)

  # --- ids -----------------------------------------------------------------------------------

  @parameterized.named_parameters(
      ('typo', 'CartPol-v1', 'Did you mean: `CartPole`'),
      ('version', 'CartPole-v9', 'v9'),
      ('namespace', 'nowhere/Thing-v0', 'Namespace nowhere not found'),
      ('module', 'no_such_module_xyz:Thing-v0', "module 'no_such_module_xyz' cannot be imported"),
      ('name_in_module', 'tf_aql.environments.synthetic:Nothing-v0', '`Nothing` doesn'),
  )
  def test_unknown_id_raises_clear_value_error(self, env_name, detail):
    with self.assertRaises(ValueError) as raised:
      load(env_name)
    message = str(raised.exception)
    self.assertStartsWith(message, f"Unknown gymnasium environment id '{env_name}'; ")
    self.assertIn(detail, message)
    self.assertIn('check the spelling, or use the module:EnvName-vN form', message)
    self.assertIsNone(raised.exception.__cause__)

  def _write_module(self, source: str) -> str:
    """Writes an importable module into a temp dir; returns its name."""
    directory = self.get_temp_dir()
    name = f'registering_module_{self.id().split(".")[-1]}'
    with open(os.path.join(directory, name + '.py'), 'w') as f:
      f.write(source)
    sys.path.insert(0, directory)
    self.addCleanup(sys.path.remove, directory)
    self.addCleanup(sys.modules.pop, name, None)
    return name

  def test_module_form_imports_the_registering_module(self):
    module = self._write_module(
        'import gymnasium\n'
        "gymnasium.register('TempCartPole-v0', "
        "entry_point='gymnasium.envs.classic_control:CartPoleEnv')\n")
    self.addCleanup(gymnasium.registry.pop, 'TempCartPole-v0', None)
    self.assertNotIn(module, sys.modules)
    env = load(f'{module}:TempCartPole-v0', seed=0)
    self.assertIn(module, sys.modules)
    self.assertEqual(env.action_spec().shape, ())
    self.assertEqual(env.reset().observation.shape, (4,))

  def test_module_form_missing_dependency_is_not_an_unknown_id(self):
    module = self._write_module('import no_such_dependency_xyz\n')
    with self.assertRaisesRegex(ModuleNotFoundError, 'no_such_dependency_xyz'):
      load(f'{module}:Thing-v0')

  def test_gin_configures_load(self):
    gin.parse_config("""
        suite_gymnasium.load.env_name = 'tf_aql/SubActionChain-v0'
        suite_gymnasium.load.env_kwargs = {'num_sub_actions': 10, 'num_values': 10}
    """)
    env = load()  # pylint: disable=no-value-for-parameter
    self.assertEqual(env.action_spec().shape, (10,))
    self.assertEqual(env.gym_env.unwrapped.num_actions(), 10**10)

  # --- seeding -----------------------------------------------------------------------------

  def _trajectory(self, env_name: str, seed: Optional[int], num_steps: int,
                  env_kwargs: Optional[Dict[str, Any]] = None) -> np.ndarray:
    """Observations [num_steps + 1, ...] under a fixed action sequence, across episodes."""
    env = load(env_name, env_kwargs=env_kwargs, max_episode_steps=3, seed=seed)
    spec = env.action_spec()
    action = np.asarray(spec.minimum, spec.dtype) * np.ones(spec.shape, spec.dtype)
    observations = [env.reset().observation]
    for _ in range(num_steps):
      observations.append(env.step(action).observation)
    return np.stack(observations)

  @parameterized.named_parameters(
      ('pendulum', 'Pendulum-v1', None),
      ('synthetic', 'tf_aql/SubActionChain-v0', {'num_sub_actions': 4, 'num_values': 5}))
  def test_seed_reproduces_trajectory(self, env_name, env_kwargs):
    first = self._trajectory(env_name, 7, 8, env_kwargs)  # 2 full episodes and a bit.
    again = self._trajectory(env_name, 7, 8, env_kwargs)
    other = self._trajectory(env_name, 8, 8, env_kwargs)
    self.assertAllEqual(first, again)
    self.assertNotAllClose(first, other)
    # Later resets continue the RNG: the second episode starts elsewhere.
    self.assertNotAllClose(first[0], first[4])

  def test_seed_seeds_action_space(self):
    samples = []
    for _ in range(2):
      env = load('tf_aql/SubActionChain-v0', seed=3)
      env.reset()
      samples.append([env.gym_env.action_space.sample() for _ in range(3)])
    self.assertAllEqual(samples[0], samples[1])


if __name__ == '__main__':
  tf.test.main()
