r"""Runs a policy exported by train_eval for N episodes and prints its average return.

    python train/evaluate.py --policy_dir=runs/pendulum/policies/greedy \
        --env_name=Pendulum-v1 --num_episodes=10 [--seed=0] [--discretize_bins=K] \
        [--env_kwargs='{"num_sub_actions": 10}'] [--max_episode_steps=T]

prints one line, e.g.

    average_return=-160.3 std=12.1 episodes=10 mean_length=200.0

The policy is a SavedModel written by `tf_agents.policies.policy_saver.PolicySaver` (train_eval
exports `<root_dir>/policies/greedy` and `<root_dir>/policies/collect`); it is loaded with plain
`tf.saved_model.load`, so no tf_aql code or gin configuration is needed to run it. The
environment must be built the way the run built it (same id, `--discretize_bins`,
`--env_kwargs`): its specs are checked against the ones the policy was exported with (shapes and
dtypes of the whole time step, and the action bounds) before the first step.

The return of an episode is the undiscounted sum of its rewards, sum_t r_t; `average_return` and
`std` are the mean and the population standard deviation over the episodes, `mean_length` the
mean number of steps per episode. Errors a user can act on (no policy at --policy_dir, an
environment that does not match the policy, an unknown id) are printed in one line with exit
code 2, as in train_eval.
"""

import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)  # The package is not installed: run from a checkout.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # as every entry point (tf_aql.cli): no
# CUDA plugin registration errors on a CPU machine

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
import numpy as np
import tensorflow as tf
from tf_agents.environments import py_environment
from tf_agents.policies import policy_saver
from tf_agents.specs import array_spec
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.typing import types
from tf_agents.utils import nest_utils

from tf_aql import cli
from tf_aql.errors import TfAqlError
from tf_aql.native_logs import native_info_dropped

_POLICY_DIR = flags.DEFINE_string(
    'policy_dir', None, 'SavedModel of an exported policy, e.g. <root_dir>/policies/greedy.')
_ENV_NAME = flags.DEFINE_string(
    'env_name', None, 'gymnasium id, e.g. Pendulum-v1, or module:EnvName-vN.')
_NUM_EPISODES = flags.DEFINE_integer('num_episodes', 10, 'Episodes to run (>= 1).')
_SEED = flags.DEFINE_integer(
    'seed', None, 'Seeds the environment (first reset) and TensorFlow\'s global RNG.')
_DISCRETIZE_BINS = flags.DEFINE_integer(
    'discretize_bins', None, 'Bins per Box action dimension, as in the run (if it used them).')
_ENV_KWARGS = flags.DEFINE_string(
    'env_kwargs', None, 'JSON object of environment constructor arguments, as in the run.')
_MAX_EPISODE_STEPS = flags.DEFINE_integer(
    'max_episode_steps', None, 'Overrides the registered time limit of the environment.')

_EXPECTED_LAYOUT = 'a SavedModel written by train_eval under <root_dir>/policies/greedy'


class EvaluationError(TfAqlError, ValueError):
  """The policy cannot be evaluated (missing export, mismatched environment, bad arguments)."""


def evaluate_saved_policy(policy_dir: str,
                          env_name: Optional[str] = None,
                          num_episodes: int = 10,
                          seed: Optional[int] = None,
                          discretize_bins: Optional[int] = None,
                          env_kwargs: Optional[Dict[str, Any]] = None,
                          max_episode_steps: Optional[int] = None,
                          env: Optional[py_environment.PyEnvironment] = None) -> Dict[str, Any]:
  """Runs the exported policy at `policy_dir` for `num_episodes` full episodes.

  Args:
    policy_dir: directory of a SavedModel written by `PolicySaver`.
    env_name: gymnasium id passed to `tf_aql.environments.load`; exactly one of `env_name` and
      `env` must be given.
    num_episodes: number of episodes (>= 1); each runs until the environment's LAST step.
    seed: seeds TensorFlow's global RNG and the first reset of the environment `env_name`
      names (a given `env` is used as it is).
    discretize_bins: `load`'s `discretize_bins` (only with `env_name`).
    env_kwargs: `load`'s `env_kwargs` (only with `env_name`).
    max_episode_steps: `load`'s `max_episode_steps` (only with `env_name`).
    env: an already built, unbatched `PyEnvironment`, used instead of `env_name`; it is not
      closed here.

  Returns:
    A dict with `average_return` (float, mean of the undiscounted episode returns), `std_return`
    (float, their population standard deviation), `num_episodes` (int), `mean_episode_length`
    (float, steps), `returns` (list of float) and `episode_lengths` (list of int).

  Raises:
    EvaluationError: no SavedModel policy at `policy_dir`, an environment whose specs do not
      match the policy's, an unknown environment id or invalid arguments.
  """
  if num_episodes < 1:
    raise EvaluationError(f'num_episodes must be >= 1, got {num_episodes}.')
  if (env_name is None) == (env is None):
    raise EvaluationError('Pass exactly one of env_name and env.')
  policy, time_step_spec, action_spec = load_saved_policy(policy_dir)
  if seed is not None:
    tf.random.set_seed(seed)
  owns_env = env is None
  if owns_env:
    env = _load_environment(env_name, discretize_bins, env_kwargs, max_episode_steps, seed)
  try:
    if env.batched:
      raise EvaluationError(f'Expected an unbatched environment, got batch_size={env.batch_size}.')
    check_specs_match(time_step_spec, action_spec, env, env_name or type(env).__name__,
                      policy_dir)
    returns, lengths = [], []
    with native_info_dropped():  # the policy's first call compiles its XLA cluster
      for _ in range(num_episodes):
        episode_return, episode_length = _run_episode(policy, time_step_spec, env)
        returns.append(episode_return)
        lengths.append(episode_length)
  finally:
    if owns_env:
      env.close()
  return {
      'average_return': float(np.mean(returns)),
      'std_return': float(np.std(returns)),
      'num_episodes': num_episodes,
      'mean_episode_length': float(np.mean(lengths)),
      'returns': returns,
      'episode_lengths': lengths,
  }


def load_saved_policy(
    policy_dir: str) -> Tuple[Any, ts.TimeStep, types.NestedArraySpec]:
  """Loads a `PolicySaver` SavedModel and the specs it was exported with.

  Returns:
    `(policy, time_step_spec, action_spec)`: the object `tf.saved_model.load` returns (with
    `action(time_step, policy_state)` and `get_initial_state(batch_size)`), and the unbatched
    `ArraySpec` nests of its time steps and actions (bounded where the exported specs were).

  Raises:
    EvaluationError: `policy_dir` is missing, is not a SavedModel, or holds no policy.
  """
  if not tf.saved_model.contains_saved_model(policy_dir):
    raise EvaluationError(_missing_policy_message(policy_dir))
  try:
    policy = tf.saved_model.load(policy_dir)
  except (OSError, ValueError, tf.errors.OpError) as error:
    reason = (str(error).strip() or type(error).__name__).splitlines()[0][:300]
    raise EvaluationError(
        f'Cannot load the SavedModel at {policy_dir} ({reason}); expected {_EXPECTED_LAYOUT}.'
    ) from None
  if not (hasattr(policy, 'action') and hasattr(policy, 'get_initial_state')):
    raise EvaluationError(
        f'The SavedModel at {policy_dir} is not a TF-Agents policy (it has no action or '
        f'get_initial_state function); expected {_EXPECTED_LAYOUT}.')
  time_step_spec, action_spec = _exported_specs(policy_dir, policy)
  return policy, time_step_spec, action_spec


def _missing_policy_message(policy_dir: str) -> str:
  message = f'No exported policy at {policy_dir}: expected {_EXPECTED_LAYOUT}'
  hint = os.path.join(policy_dir, 'policies', 'greedy')
  if tf.saved_model.contains_saved_model(hint):
    message += f' (this looks like a run folder: did you mean --policy_dir={hint}?)'
  return message + '.'


def _exported_specs(policy_dir: str, policy: Any) -> Tuple[ts.TimeStep, types.NestedArraySpec]:
  """The specs in `policy_specs.pbtxt`, else those of the `action` function's signature."""
  specs_path = os.path.join(policy_dir, policy_saver.POLICY_SPECS_PBTXT)
  if os.path.exists(specs_path):
    specs = policy_saver.specs_from_collect_data_spec(tensor_spec.from_pbtxt_file(specs_path))
    time_step_spec, action_spec = specs['time_step_spec'], specs['action_spec']
  else:  # No spec file: the signature has shapes and dtypes, but no bounds.
    action_fn = policy.action.concrete_functions[0]
    time_step_spec = action_fn.structured_input_signature[0][0]
    action_spec = action_fn.structured_outputs.action
    unbatch = lambda s: tf.TensorSpec(s.shape[1:], s.dtype, s.name)
    time_step_spec = tf.nest.map_structure(unbatch, time_step_spec)
    action_spec = tf.nest.map_structure(unbatch, action_spec)
  return (tensor_spec.to_nest_array_spec(time_step_spec),
          tensor_spec.to_nest_array_spec(action_spec))


def _load_environment(env_name: str, discretize_bins: Optional[int],
                      env_kwargs: Optional[Dict[str, Any]], max_episode_steps: Optional[int],
                      seed: Optional[int]) -> py_environment.PyEnvironment:
  """`tf_aql.environments.load`, its argument errors re-raised as `EvaluationError`."""
  from tf_aql import environments  # pylint: disable=g-import-not-at-top
  try:
    return environments.load(env_name, discretize_bins=discretize_bins, env_kwargs=env_kwargs,
                             max_episode_steps=max_episode_steps, seed=seed)
  except TfAqlError:
    raise
  except (ValueError, TypeError) as error:
    reason = str(error).strip().splitlines()[0]  # Drops gin's "In call to configurable" line.
    raise EvaluationError(f'Cannot make environment {env_name!r}: {reason}') from None


def check_specs_match(time_step_spec: ts.TimeStep, action_spec: types.NestedArraySpec,
                      env: py_environment.PyEnvironment, env_label: str,
                      policy_dir: str) -> None:
  """Checks that `env` produces the time steps and accepts the actions the policy was built for.

  Compares the nest structure, shape and dtype of every time step and action spec, and the
  bounds of bounded action specs (a different `discretize_bins` changes only those).

  Raises:
    EvaluationError: naming the first mismatching part and both specs.
  """
  problems = (_spec_mismatch('time step', time_step_spec, env.time_step_spec(), bounds=False) or
              _spec_mismatch('action', action_spec, env.action_spec(), bounds=True))
  if problems:
    raise EvaluationError(
        f'Environment {env_label} does not match the policy at {policy_dir}: {problems}. Build '
        'it as the run did (same env id, --discretize_bins and --env_kwargs as in its '
        'operative_config.gin).')


def _spec_mismatch(what: str, policy_spec: types.NestedArraySpec,
                   env_spec: types.NestedArraySpec, bounds: bool) -> Optional[str]:
  """A one-line description of how `env_spec` differs from `policy_spec`, or None."""
  try:
    tf.nest.assert_same_structure(policy_spec, env_spec)
  except (ValueError, TypeError):
    return f'{what} structure {env_spec} != policy {policy_spec}'
  paths = [p for p, _ in nest_utils.flatten_with_joined_paths(policy_spec)]
  for path, expected, actual in zip(paths, tf.nest.flatten(policy_spec), tf.nest.flatten(env_spec)):
    name = f'{what} {path}'.strip() if path else what
    if (tuple(expected.shape) != tuple(actual.shape) or
        np.dtype(expected.dtype) != np.dtype(actual.dtype)):
      return (f'{name} has shape {tuple(actual.shape)} and dtype {np.dtype(actual.dtype).name}, '
              f'the policy expects shape {tuple(expected.shape)} and dtype '
              f'{np.dtype(expected.dtype).name}')
    if bounds and _bounds_differ(expected, actual):
      return (f'{name} bounds [{actual.minimum}, {actual.maximum}] != the policy\'s '
              f'[{expected.minimum}, {expected.maximum}]')
  return None


def _bounds_differ(expected: array_spec.ArraySpec, actual: array_spec.ArraySpec) -> bool:
  """True when both specs are bounded and their minimum or maximum differ."""
  if not (isinstance(expected, array_spec.BoundedArraySpec) and
          isinstance(actual, array_spec.BoundedArraySpec)):
    return False
  return not (np.allclose(expected.minimum, actual.minimum) and
              np.allclose(expected.maximum, actual.maximum))


def _run_episode(policy: Any, time_step_spec: ts.TimeStep,
                 env: py_environment.PyEnvironment) -> Tuple[float, int]:
  """One episode from `env.reset()` to its LAST step, the policy fed batches of 1.

  Returns:
    (undiscounted return, number of steps).
  """
  time_step = env.reset()
  policy_state = policy.get_initial_state(1)
  episode_return, episode_length = 0.0, 0
  while not time_step.is_last():
    batched = tf.nest.map_structure(
        lambda x, s: tf.convert_to_tensor(x, dtype=s.dtype),
        nest_utils.batch_nested_array(time_step), time_step_spec)  # Leading dim 1.
    policy_step = policy.action(batched, policy_state)
    policy_state = policy_step.state
    time_step = env.step(nest_utils.unbatch_nested_tensors_to_arrays(policy_step.action))
    episode_return += float(time_step.reward)
    episode_length += 1
  return episode_return, episode_length


def _parse_env_kwargs(text: Optional[str]) -> Optional[Dict[str, Any]]:
  if not text:
    return None
  try:
    env_kwargs = json.loads(text)
  except json.JSONDecodeError as error:
    raise EvaluationError(f'--env_kwargs is not valid JSON ({error}): {text}') from None
  if not isinstance(env_kwargs, dict):
    raise EvaluationError(f'--env_kwargs must be a JSON object, e.g. \'{{"key": 1}}\'; got {text}')
  return env_kwargs


def format_result(result: Dict[str, Any]) -> str:
  """The one-line summary the command prints."""
  return (f'average_return={result["average_return"]:.3f} std={result["std_return"]:.3f} '
          f'episodes={result["num_episodes"]} mean_length={result["mean_episode_length"]:.1f}')


def main(argv: List[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')

  def evaluate_and_print():
    result = evaluate_saved_policy(
        _POLICY_DIR.value, env_name=_ENV_NAME.value, num_episodes=_NUM_EPISODES.value,
        seed=_SEED.value, discretize_bins=_DISCRETIZE_BINS.value,
        env_kwargs=_parse_env_kwargs(_ENV_KWARGS.value),
        max_episode_steps=_MAX_EPISODE_STEPS.value)
    print(format_result(result))

  cli.run_user_command(evaluate_and_print)  # a user error: one line, exit status 2


if __name__ == '__main__':
  flags.mark_flags_as_required(['policy_dir', 'env_name'])
  app.run(main)
