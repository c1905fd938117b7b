"""The training loop (`train_eval`) and the pieces it shares with the distributed roles.

Collection runs TF-Agents `Actor`s that write n+1-step sequences through a
`ReverbAddTrajectoryObserver` into a Reverb table; training runs a TF-Agents `Learner` on
batches sampled from it. `train_eval` does both in one process with an embedded Reverb server
and keeps the replay ratio fixed itself: after collecting `k` environment steps it runs
`k * samples_per_insert / batch_size` train steps, so each stored sequence is sampled
`samples_per_insert` times on average. The distributed roles (`tf_aql.distributed`) run the
same pieces in separate processes and let the replay server's rate limiter keep that ratio.

On-policy agents (IMPALA) say so with an `unroll_length` attribute (`AgentState.unroll_length`).
For them `train_eval` skips the random initial steps, writes unrolls of T + 1 steps with stride
T into a FIFO queue (`tf_aql.replay`) and runs one train step per `batch_size` new unrolls, each
used once (`tf_aql.train_schedule`); evaluation, checkpoints, exports, resume and summaries are
the same. A checkpoint holds the queue (Reverb checkpoints every table) and a resumed run trains
on the restored unrolls first; lost on a restart are the collector's unfinished unroll and the
unrolls the sampler had already taken off the queue for the next batch (fewer than a batch's
worth, collected by the previous session's policy anyway).

Shared pieces, used by `train_eval` and by the distributed learner, collectors and evaluator:

- `RunSettings`: the `train_eval.*` gin bindings, read once by every process;
- `AgentState`: the agent and the counters a run checkpoints (train step, env step, wall time);
- `Trainer`: the TF-Agents `Learner`, checkpoints (agent + counters + replay) and policy exports;
- `Evaluator`: greedy episodes, the `eval_metrics.jsonl` row and its summaries;
- `RateMeter`: environment and learner steps per second, written to TensorBoard;
- `make_collect_actor`, `make_random_actor`: collection.

Running the same command on an existing run folder resumes from its last checkpoint (agent,
optimizers, counters and the replay contents).
"""

import contextlib
import dataclasses
import inspect
import math
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import gin
import numpy as np
import tensorflow as tf
from tf_agents.environments import py_environment
from tf_agents.policies import policy_saver
from tf_agents.policies import py_tf_eager_policy
from tf_agents.policies import random_py_policy
from tf_agents.policies import tf_policy
from tf_agents.specs import tensor_spec
from tf_agents.train import actor
from tf_agents.train import learner
from tf_agents.train.utils import train_utils

from tf_aql import builders
from tf_aql.environments import suite_gymnasium
from tf_aql.errors import ConfigurationError
from tf_aql.progress import Progress
from tf_aql.replay import EmbeddedReplay, Replay
from tf_aql.native_logs import native_info_dropped
from tf_aql.policies.action_only_policy import ActionOnlyPolicy
from tf_aql.run_folder import Checkpoint, RunFolder
from tf_aql.train_schedule import ReplayRatioSchedule, UnrollSchedule
from tf_aql.train_schedule import check_unroll_queue_capacity


class StepCounter:
  """Observer counting environment steps (boundary LAST -> FIRST frames are not steps)."""

  def __init__(self, start: int = 0):
    self.value = start

  def __call__(self, trajectory) -> None:
    if not trajectory.is_boundary():
      self.value += 1


@dataclasses.dataclass(frozen=True)
class RunSettings:
  """The `train_eval` arguments (see its docstring), as every process of a run reads them."""
  env_name: str
  num_env_steps: int
  eval_interval: int
  num_eval_episodes: int
  initial_collect_steps: int
  batch_size: int
  replay_capacity: int
  samples_per_insert: float
  collect_steps_per_iteration: int
  checkpoint_interval: Optional[int]
  summary_interval: int
  seed: int
  show_progress: bool

  def __post_init__(self):
    """Checks every value's type and range before anything is written."""
    for name in ('num_env_steps', 'eval_interval', 'num_eval_episodes', 'batch_size',
                 'replay_capacity', 'collect_steps_per_iteration', 'summary_interval'):
      _check_number(name, getattr(self, name), int, minimum=1)
    _check_number('initial_collect_steps', self.initial_collect_steps, int, minimum=0)
    _check_number('seed', self.seed, int, minimum=0)
    _check_number('samples_per_insert', self.samples_per_insert, float, minimum=1e-9)
    if self.checkpoint_interval is not None:
      _check_number('checkpoint_interval', self.checkpoint_interval, int, minimum=1)
    if not isinstance(self.show_progress, bool):
      raise ConfigurationError(f'train_eval.show_progress must be True or False, got '
                               f'{self.show_progress!r}.')
    if not isinstance(self.env_name, str) or not self.env_name:
      raise ConfigurationError(f'train_eval.env_name must be a gymnasium id (a string), got '
                               f'{self.env_name!r}.')

  @classmethod
  def from_gin(cls) -> 'RunSettings':
    """`train_eval`'s defaults overridden by its gin bindings (parse the gin files first)."""
    parameters = inspect.signature(train_eval).parameters
    values = {name: p.default for name, p in parameters.items() if name != 'root_dir'}
    values.update(gin.get_bindings(train_eval))
    if values['env_name'] is gin.REQUIRED:
      raise ConfigurationError('train_eval.env_name is not bound: add an environment gin file '
                               '(gin/envs/*.gin) or bind it with --gin_bindings.')
    return cls(**values)

  @property
  def num_train_steps(self) -> int:
    """The train steps `train_eval` runs in `num_env_steps` for a replay learner: ratio x steps
    after the random ones.

    Every environment step after the initial random ones buys samples_per_insert / batch_size
    train steps (gin/smoke.gin: (200 - 50) * 4 / 8 = 75).
    """
    learning_steps = max(0, self.num_env_steps - self.initial_collect_steps)
    return int(math.floor(learning_steps * self.samples_per_insert / self.batch_size + 1e-9))

  def train_steps_for(self, unroll_length: Optional[int]) -> int:
    """The train steps of a run of `num_env_steps` for an agent (`AgentState.unroll_length`).

    Replay learners (None): `num_train_steps`. On-policy agents (unrolls of T steps, no random
    steps): one train step per batch_size unrolls, num_env_steps // (T x batch_size)
    (gin/smoke.gin with IMPALA: 200 // (5 x 8) = 5). About: each episode end adds a boundary
    frame to the unrolls, so the run collects somewhat fewer environment steps than that.
    """
    if unroll_length is None:
      return self.num_train_steps
    return self.num_env_steps // (unroll_length * self.batch_size)

  def random_steps_for(self, unroll_length: Optional[int]) -> int:
    """`initial_collect_steps` for replay learners; 0 for on-policy agents, which skip them."""
    return self.initial_collect_steps if unroll_length is None else 0

  @property
  def checkpoint_period(self) -> int:
    """Environment steps between checkpoints."""
    return self.checkpoint_interval or self.eval_interval

  def gin_text(self) -> str:
    """The settings as `train_eval.*` gin bindings (for the operative config of a role)."""
    return ''.join(f'train_eval.{name} = {value!r}\n'
                   for name, value in dataclasses.asdict(self).items())


def _check_number(name: str, value, kind: type, minimum: float) -> None:
  """Raises a one-sentence ConfigurationError unless `value` is a `kind` (int: not a bool or
  float; float: any real number) that is at least `minimum`."""
  is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
  ok_type = is_int or (kind is float and isinstance(value, (float, np.floating)))
  if not ok_type or value < minimum or (kind is float and not math.isfinite(value)):
    what = {(int, 1): 'a positive integer', (int, 0): 'an integer >= 0'}.get(
        (kind, minimum), 'a positive number')
    raise ConfigurationError(f'train_eval.{name} must be {what}, got {value!r}.')


def load_env(settings: RunSettings, seed: int) -> py_environment.PyEnvironment:
  return suite_gymnasium.load(settings.env_name, seed=seed)


class AgentState:
  """The agent and the run's counters: what a checkpoint holds and the roles exchange.

  Attributes:
    train_step: the train-step counter (int64), owned by the agent.
    env_step: environment steps collected when last checkpointed or pushed (int64).
    wall_time: run wall time in seconds when last checkpointed or pushed (float64).
    agent: the agent `builders.make_agent` builds from gin.
  """

  def __init__(self, env: py_environment.PyEnvironment):
    time_step_spec = tensor_spec.from_spec(env.time_step_spec())
    action_spec = tensor_spec.from_spec(env.action_spec())
    self.train_step = train_utils.create_train_step()
    self.env_step = tf.Variable(0, dtype=tf.int64, name='env_step')
    self.wall_time = tf.Variable(0.0, dtype=tf.float64, name='wall_time_s')
    with native_info_dropped():  # building the policies compiles the first XLA cluster
      self.agent = builders.make_agent(time_step_spec, action_spec, self.train_step)
      self.greedy_policy = builders.greedy_policy(self.agent)

  @property
  def collect_policy(self) -> tf_policy.TFPolicy:
    return self.agent.collect_policy

  @property
  def sequence_length(self) -> int:
    """Steps per stored sequence: n + 1 for n-step updates, T + 1 for unrolls of T steps, 2
    for agents without a preference."""
    return self.agent.train_sequence_length or 2

  @property
  def unroll_length(self) -> Optional[int]:
    """T for agents that learn on-policy from unrolls of T steps, None for replay learners.

    The one property by which an agent chooses its data path: an agent with an
    `unroll_length` attribute (`ImpalaAgent`) gets the unroll queue and one train step per
    batch of new unrolls; every other agent gets uniform replay of n + 1-step sequences at
    `samples_per_insert`.
    """
    return getattr(self.agent, 'unroll_length', None)

  @property
  def learns_from_unrolls(self) -> bool:
    """True for on-policy agents (`unroll_length` set): their replay is the unroll queue."""
    return self.unroll_length is not None

  def policy_variables(self) -> List[tf.Variable]:
    """The variables of the collect and greedy policies, each once, in a fixed order."""
    seen, variables = set(), []
    for variable in (list(self.collect_policy.variables()) +
                     list(self.greedy_policy.variables())):
      if variable.ref() not in seen:
        seen.add(variable.ref())
        variables.append(variable)
    return variables

  def make_checkpoint(self, directory: str) -> Checkpoint:
    return Checkpoint(directory, agent=self.agent, train_step=self.train_step,
                      env_step=self.env_step, wall_time=self.wall_time)


class WallClock:
  """Run wall time: the seconds of earlier sessions (restored counter) plus this session's."""

  def __init__(self, wall_time: tf.Variable):
    self._wall_time = wall_time
    self.start()

  def start(self) -> None:
    self._start_time, self._start_wall = time.time(), float(self._wall_time.numpy())

  def elapsed(self) -> float:
    return self._start_wall + time.time() - self._start_time


class Trainer:
  """The learning side of a run: TF-Agents `Learner`, checkpoints and policy exports.

  Checkpoints hold the agent (networks and optimizers) and the counters of `AgentState`, and
  trigger a checkpoint of the replay table, so agent and replay resume together.
  """

  def __init__(self, folder: RunFolder, state: AgentState,
               dataset_fn: Callable[[], tf.data.Dataset], replay: Replay,
               summary_interval: int):
    self._folder = folder
    self._state = state
    self._replay = replay
    self._dataset_fn = dataset_fn
    self._iterator = None  # None: the Learner's own iterator, until a sample times out
    with native_info_dropped():  # a one-stream dataset starts its sampler right away
      self.learner = learner.Learner(
          folder.root_dir, state.train_step, state.agent, experience_dataset_fn=dataset_fn,
          checkpoint_interval=0,  # `save_checkpoint` saves agent, counters and replay together
          summary_interval=summary_interval)
    _remove_if_empty(folder.path(learner.TRAIN_DIR, learner.POLICY_CHECKPOINT_DIR))
    self._checkpoint = state.make_checkpoint(folder.checkpoint_dir)
    self._savers = None  # built at the first export (tracing the policies takes seconds)
    self._samplers_started = False
    self.writer = tf.summary.create_file_writer(folder.path('train'))
    self.clock = WallClock(state.wall_time)

  @property
  def train_step(self) -> int:
    return int(self._state.train_step.numpy())

  @property
  def checkpoint_path(self) -> Optional[str]:
    """The checkpoint `restore` restored, or None."""
    return self._checkpoint.restored_path

  def restore(self) -> bool:
    """Restores the latest checkpoint (False when there is none) and restarts the clock."""
    resumed = self._checkpoint.restore()
    self.clock.start()
    return resumed

  def train(self, iterations: int) -> bool:
    """Runs `iterations` train steps; False if a sample timed out first.

    A replay built with `sample_timeout_s` ends its dataset when a sample waits that long on
    the rate limiter (no inserts): the steps done so far stay done, the call returns False and
    the next call samples from a new iterator. Without a timeout it always returns True.
    """
    quiet = contextlib.nullcontext() if self._samplers_started else native_info_dropped()
    self._samplers_started = True  # the first call starts Reverb's samplers, each with a log line
    with quiet:
      try:
        self.learner.run(iterations=iterations, iterator=self._iterator)
      except tf.errors.OutOfRangeError:
        self._iterator = iter(self._dataset_fn())
        return False
    return True

  def save_checkpoint(self, env_steps: int) -> None:
    """Checkpoints the replay, then the agent and the counters (numbered by `env_steps`)."""
    self._state.env_step.assign(env_steps)
    self._state.wall_time.assign(self.clock.elapsed())
    self._replay.checkpoint()
    self._checkpoint.save(env_steps)

  def export_policies(self) -> None:
    """Writes `policies/greedy` and `policies/collect` (SavedModels of their actions only, so a
    bare `tf.saved_model.load` runs them: see `ActionOnlyPolicy`)."""
    if self._savers is None:
      train_step = self._state.train_step
      self._savers = {
          name: policy_saver.PolicySaver(ActionOnlyPolicy(policy), train_step=train_step)
          for name, policy in (('greedy', self._state.greedy_policy),
                               ('collect', self._state.collect_policy))}
    for name, saver in self._savers.items():
      self._folder.export_policy(saver, name)

  def flush_summaries(self) -> None:
    self.learner.train_summary_writer.flush()
    self.writer.flush()


def _remove_if_empty(directory: str) -> None:
  """Removes `directory` if it exists and is empty (the `Learner` makes `train/checkpoints` for
  its own checkpointer, which stays unused: `checkpoints/` holds agent, counters and replay)."""
  if os.path.isdir(directory) and not os.listdir(directory):
    os.rmdir(directory)


class Evaluator:
  """Greedy-policy episodes; appends a row to `eval_metrics.jsonl` and writes summaries.

  The row: env_steps, train_step, average_return, average_episode_length, num_episodes,
  wall_time_s (and any extra fields). The actor's metrics go to `<root_dir>/eval` (step:
  train step); `eval/average_return` and `eval/average_episode_length` go to `writer` (step:
  environment steps).
  """

  def __init__(self, folder: RunFolder, env: py_environment.PyEnvironment,
               policy: tf_policy.TFPolicy, train_step: tf.Variable, num_episodes: int,
               writer: tf.summary.SummaryWriter):
    self._folder = folder
    self._train_step = train_step
    self._num_episodes = num_episodes
    self._writer = writer
    self._actor = actor.Actor(
        env, py_tf_eager_policy.PyTFEagerPolicy(policy, use_tf_function=True), train_step,
        episodes_per_run=num_episodes, metrics=actor.eval_metrics(num_episodes),
        summary_dir=folder.path('eval'))

  def evaluate(self, env_steps: int, wall_time_s: float, **extra) -> Dict:
    """Runs the episodes and records them; returns the row."""
    self._actor.reset()
    self._actor.run()
    self._actor.write_metric_summaries()
    row = {'env_steps': env_steps, 'train_step': int(self._train_step.numpy()),
           'average_return': metric_value(self._actor, 'AverageReturn'),
           'average_episode_length': metric_value(self._actor, 'AverageEpisodeLength'),
           'num_episodes': self._num_episodes,
           'wall_time_s': round(wall_time_s, 3)}
    row.update(extra)
    self._folder.append_eval_metrics(row)
    with self._writer.as_default(step=env_steps):
      tf.summary.scalar('eval/average_return', row['average_return'])
      tf.summary.scalar('eval/average_episode_length', row['average_episode_length'])
    self._writer.flush()
    return row


class RateMeter:
  """Environment and learner steps per second since the last call, written to TensorBoard."""

  def __init__(self, writer: tf.summary.SummaryWriter, env_steps: int, train_steps: int):
    self._writer = writer
    self._last = (time.time(), env_steps, train_steps)
    self.env_steps_per_sec = None
    self.train_steps_per_sec = None

  def log(self, env_steps: int, train_steps: int,
          scalars: Optional[Dict[str, Optional[float]]] = None) -> Tuple[float, float]:
    """Writes `perf/env_steps_per_sec`, `perf/learner_steps_per_sec` and `scalars` (step: env
    steps; None values are skipped); returns the two rates."""
    now = time.time()
    dt = max(now - self._last[0], 1e-6)
    self.env_steps_per_sec = (env_steps - self._last[1]) / dt
    self.train_steps_per_sec = (train_steps - self._last[2]) / dt
    self._last = (now, env_steps, train_steps)
    with self._writer.as_default(step=env_steps):
      tf.summary.scalar('perf/env_steps_per_sec', self.env_steps_per_sec)
      tf.summary.scalar('perf/learner_steps_per_sec', self.train_steps_per_sec)
      for name, value in (scalars or {}).items():
        if value is not None:
          tf.summary.scalar(name, value)
    return self.env_steps_per_sec, self.train_steps_per_sec


def make_collect_actor(env: py_environment.PyEnvironment, policy: tf_policy.TFPolicy,
                       train_step: tf.Variable, observers: Sequence[Callable],
                       steps_per_run: int, summary_dir: Optional[str],
                       summary_interval: int) -> actor.Actor:
  """An `Actor` running `policy` for `steps_per_run` steps per `run()`, with return metrics."""
  return actor.Actor(
      env, py_tf_eager_policy.PyTFEagerPolicy(policy, use_tf_function=True), train_step,
      steps_per_run=steps_per_run, observers=list(observers),
      metrics=actor.collect_metrics(buffer_size=10), summary_dir=summary_dir,
      summary_interval=summary_interval)


def make_random_actor(env: py_environment.PyEnvironment, train_step: tf.Variable,
                      observers: Sequence[Callable], steps_per_run: int) -> actor.Actor:
  """An `Actor` taking uniformly random actions (fills the replay before training)."""
  random_policy = random_py_policy.RandomPyPolicy(env.time_step_spec(), env.action_spec())
  return actor.Actor(env, random_policy, train_step, steps_per_run=steps_per_run,
                     observers=list(observers))


def metric_value(actor_: actor.Actor, name: str) -> Optional[float]:
  """The current value of the actor's metric `name` (None if it has none)."""
  for metric in actor_.metrics:
    if metric.name == name:
      return float(metric.result())
  return None


def collect_return_scalars(collect_actor: actor.Actor) -> Dict[str, Optional[float]]:
  return {f'collect/{name}': metric_value(collect_actor, name)
          for name in ('AverageReturn', 'AverageEpisodeLength')}


def next_multiple(value: int, interval: int) -> int:
  """The first multiple of `interval` strictly above `value`."""
  return (value // interval + 1) * interval


@gin.configurable
def train_eval(root_dir: str,
               env_name: str = gin.REQUIRED,
               num_env_steps: int = 100_000,
               eval_interval: int = 10_000,
               num_eval_episodes: int = 10,
               initial_collect_steps: int = 1_000,
               batch_size: int = 64,
               replay_capacity: int = 100_000,
               samples_per_insert: float = 64.0,
               collect_steps_per_iteration: int = 1,
               checkpoint_interval: Optional[int] = None,
               summary_interval: int = 1_000,
               seed: int = 0,
               show_progress: bool = True) -> Dict:
  """Trains an agent on `env_name` and evaluates it; resumes from `root_dir` if it has a run.

  Args:
    root_dir: the run folder (see `tf_aql.run_folder`).
    env_name: a gymnasium id, including the `module:EnvName-vN` form.
    num_env_steps: total environment steps of collection (initial random steps included).
    eval_interval: environment steps between evaluations (and policy exports).
    num_eval_episodes: episodes per evaluation, with the greedy policy.
    initial_collect_steps: uniformly random steps that fill the replay before training
      (skipped, with a note, for on-policy agents).
    batch_size: sequences per train step (unrolls for on-policy agents).
    replay_capacity: sequences the replay keeps (FIFO); for on-policy agents, the unroll
      queue's size.
    samples_per_insert: how often each stored sequence is sampled on average; train steps per
      environment step = samples_per_insert / batch_size. Not read for on-policy agents: each
      unroll is used once.
    collect_steps_per_iteration: environment steps between two rounds of training.
    checkpoint_interval: environment steps between checkpoints (default: eval_interval).
    summary_interval: train steps between TensorBoard loss summaries.
    seed: seed of Python's `random`, NumPy, TensorFlow (so the networks' initial weights) and
      the environments (evaluation uses seed + 1): the same seed gives the same untrained
      policy and the same first evaluation. Training itself stays nondeterministic: Reverb
      samples its replay in its own threads.
    show_progress: draw a progress bar on the console.

  Returns:
    The last evaluation row (as written to eval_metrics.jsonl).
  """
  RunSettings(**{name: value for name, value in locals().items()
                 if name != 'root_dir'})  # checks every value before anything is written
  tf.keras.utils.set_random_seed(seed)  # random, NumPy and TF: Keras initializers draw from all
  folder = RunFolder(root_dir)
  # Everything that can fail on bad input happens before the run folder is touched.
  collect_env = suite_gymnasium.load(env_name, seed=seed)
  eval_env = suite_gymnasium.load(env_name, seed=seed + 1)
  state = AgentState(collect_env)
  if state.learns_from_unrolls:  # else uniform n-step replay
    check_unroll_queue_capacity(replay_capacity, batch_size, collect_steps_per_iteration,
                                state.unroll_length)
  folder.check_resume_config(gin.operative_config_str() +
                             f'\ntrain_eval.env_name = {env_name!r}\n')

  folder.create()
  replay = EmbeddedReplay(state.agent.collect_data_spec, state.sequence_length,
                          replay_capacity, folder.replay_dir,
                          unrolls=state.learns_from_unrolls)
  # Before the Trainer: its sampler may take restored unrolls off the queue as soon as it starts.
  schedule = (UnrollSchedule(replay, batch_size) if state.learns_from_unrolls
              else ReplayRatioSchedule(samples_per_insert, batch_size))
  trainer = Trainer(folder, state, lambda: replay.dataset(batch_size), replay,
                    summary_interval)
  resumed = trainer.restore()
  if resumed:
    print(f'Resumed from env step {int(state.env_step.numpy())}, train step '
          f'{trainer.train_step} (checkpoint {trainer.checkpoint_path}).', file=sys.stderr)
  folder.trim_eval_metrics(int(state.env_step.numpy()) if resumed else None)
  folder.write_text('operative_config.gin', gin.operative_config_str())

  counter = StepCounter(int(state.env_step.numpy()))
  if state.learns_from_unrolls and not resumed and initial_collect_steps > 0:
    print(f'{type(state.agent).__name__} learns on-policy: the {initial_collect_steps} random '
          'steps of train_eval.initial_collect_steps are skipped.', file=sys.stderr)
  elif not resumed and replay.num_items == 0 and initial_collect_steps > 0:
    print(f'Collecting {initial_collect_steps} random steps to fill the replay...',
          file=sys.stderr)
    make_random_actor(collect_env, state.train_step, [replay.observer, counter],
                      initial_collect_steps).run()
    replay.end_episode()  # the collect actor starts a new episode

  collect_actor = make_collect_actor(
      collect_env, state.collect_policy, state.train_step, [replay.observer, counter],
      collect_steps_per_iteration, folder.path('train'), summary_interval)
  evaluator = Evaluator(folder, eval_env, state.greedy_policy, state.train_step,
                        num_eval_episodes, trainer.writer)
  trainer.clock.start()

  def evaluate_and_export() -> Dict:
    row = evaluator.evaluate(counter.value, trainer.clock.elapsed(),
                             replay_items=replay.num_items)
    trainer.export_policies()
    return row

  progress = Progress(num_env_steps, counter.value, enabled=show_progress)
  meter = RateMeter(trainer.writer, counter.value, trainer.train_step)
  last_row = evaluate_and_export() if not resumed else (folder.read_eval_metrics() or [{}])[-1]
  next_eval = next_multiple(counter.value, eval_interval)
  next_checkpoint = next_multiple(counter.value, checkpoint_interval or eval_interval)
  last_log = time.time()
  try:
    while counter.value < num_env_steps:
      before = counter.value
      collect_actor.run()
      train_steps = schedule.train_steps_due(counter.value - before)
      if train_steps:
        trainer.train(train_steps)
      if counter.value >= next_eval or counter.value >= num_env_steps:
        last_row = evaluate_and_export()
        next_eval = next_multiple(counter.value, eval_interval)
      if counter.value >= next_checkpoint or counter.value >= num_env_steps:
        trainer.save_checkpoint(counter.value)
        next_checkpoint = next_multiple(counter.value, checkpoint_interval or eval_interval)
      if time.time() - last_log >= progress.interval_s or counter.value >= num_env_steps:
        last_log = time.time()
        env_sps, train_sps = meter.log(counter.value, trainer.train_step,
                                       collect_return_scalars(collect_actor))
        progress.update(counter.value,
                        collect_return=metric_value(collect_actor, 'AverageReturn'),
                        eval_return=last_row.get('average_return'),
                        env_sps=env_sps, train_sps=train_sps)
  finally:
    progress.close()
    replay.close()
  return last_row
