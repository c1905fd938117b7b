"""The single-process training loop (`train_eval`): collect, replay, learn, evaluate, export.

Collection runs TF-Agents `Actor`s that write n+1-step sequences through a
`ReverbAddTrajectoryObserver` into an embedded Reverb server; training runs a TF-Agents
`Learner` on batches sampled from it. The loop keeps the replay ratio fixed: after collecting
`k` environment steps it runs `k * samples_per_insert / batch_size` train steps, so each stored
sequence is sampled `samples_per_insert` times on average.

Running the same command on an existing run folder resumes from its last checkpoint (agent,
optimizers, counters and the replay contents).
"""

import os
import sys
import time
from typing import Dict, Optional

import gin
import numpy as np
import tensorflow as tf
from tf_agents.policies import policy_saver
from tf_agents.policies import py_tf_eager_policy
from tf_agents.policies import random_py_policy
from tf_agents.specs import tensor_spec
from tf_agents.train import actor
from tf_agents.train import learner
from tf_agents.train.utils import train_utils

from tf_aql import builders
from tf_aql.environments import suite_gymnasium
from tf_aql.progress import Progress
from tf_aql.replay import EmbeddedReplay
from tf_aql.run_folder import Checkpoint, RunFolder


class StepCounter:
  """Observer counting environment steps (boundary LAST -> FIRST frames are not steps)."""

  def __init__(self, start: int = 0):
    self.value = start

  def __call__(self, trajectory) -> None:
    if not trajectory.is_boundary():
      self.value += 1


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
    initial_collect_steps: uniformly random steps that fill the replay before training.
    batch_size: sequences per train step.
    replay_capacity: sequences the replay keeps (FIFO).
    samples_per_insert: how often each stored sequence is sampled on average; train steps per
      environment step = samples_per_insert / batch_size.
    collect_steps_per_iteration: environment steps between two rounds of training.
    checkpoint_interval: environment steps between checkpoints (default: eval_interval).
    summary_interval: train steps between TensorBoard loss summaries.
    seed: seed of TensorFlow, NumPy and the environments (evaluation uses seed + 1).
    show_progress: draw a progress bar on the console.

  Returns:
    The last evaluation row (as written to eval_metrics.jsonl).
  """
  tf.random.set_seed(seed)
  np.random.seed(seed)
  folder = RunFolder(root_dir)
  # Everything that can fail on bad input happens before the run folder is touched.
  collect_env = suite_gymnasium.load(env_name, seed=seed)
  eval_env = suite_gymnasium.load(env_name, seed=seed + 1)
  time_step_spec = tensor_spec.from_spec(collect_env.time_step_spec())
  action_spec = tensor_spec.from_spec(collect_env.action_spec())
  train_step = train_utils.create_train_step()
  env_step = tf.Variable(0, dtype=tf.int64, name='env_step')
  wall_time = tf.Variable(0.0, dtype=tf.float64, name='wall_time_s')
  agent = builders.make_agent(time_step_spec, action_spec, train_step)
  sequence_length = agent.train_sequence_length or 2

  folder.create()
  replay = EmbeddedReplay(agent.collect_data_spec, sequence_length, replay_capacity,
                          folder.replay_dir)
  ratio_learner = learner.Learner(
      folder.root_dir, train_step, agent,
      experience_dataset_fn=lambda: replay.dataset(batch_size),
      checkpoint_interval=0,  # the loop checkpoints agent, counters and replay together
      summary_interval=summary_interval)
  checkpoint = Checkpoint(folder.checkpoint_dir, agent=agent, train_step=train_step,
                          env_step=env_step, wall_time=wall_time)
  resumed = checkpoint.restore()
  folder.trim_eval_metrics(int(env_step.numpy()) if resumed else None)
  folder.write_text('operative_config.gin', gin.operative_config_str())

  counter = StepCounter(int(env_step.numpy()))
  if not resumed and replay.num_items == 0:
    _initial_collect(collect_env, replay, counter, initial_collect_steps, train_step)

  greedy = builders.greedy_policy(agent)
  collect_actor = actor.Actor(
      collect_env, py_tf_eager_policy.PyTFEagerPolicy(agent.collect_policy, use_tf_function=True),
      train_step, steps_per_run=collect_steps_per_iteration,
      observers=[replay.observer, counter], metrics=actor.collect_metrics(buffer_size=10),
      summary_dir=folder.path('train'), summary_interval=summary_interval)
  eval_actor = actor.Actor(
      eval_env, py_tf_eager_policy.PyTFEagerPolicy(greedy, use_tf_function=True),
      train_step, episodes_per_run=num_eval_episodes,
      metrics=actor.eval_metrics(num_eval_episodes), summary_dir=folder.path('eval'))
  savers = {'greedy': policy_saver.PolicySaver(greedy, train_step=train_step),
            'collect': policy_saver.PolicySaver(agent.collect_policy, train_step=train_step)}
  writer = tf.summary.create_file_writer(folder.path('train'))
  start_time, start_wall = time.time(), float(wall_time.numpy())

  def elapsed() -> float:
    return start_wall + time.time() - start_time

  def save_checkpoint() -> None:
    env_step.assign(counter.value)
    wall_time.assign(elapsed())
    replay.checkpoint()
    checkpoint.save(counter.value)

  def evaluate_and_export() -> Dict:
    eval_actor.reset()
    eval_actor.run()
    eval_actor.write_metric_summaries()
    row = _eval_row(eval_actor, counter.value, int(train_step.numpy()), num_eval_episodes,
                    elapsed())
    row['replay_items'] = replay.num_items
    folder.append_eval_metrics(row)
    with writer.as_default(step=counter.value):
      tf.summary.scalar('eval/average_return', row['average_return'])
      tf.summary.scalar('eval/average_episode_length', row['average_episode_length'])
    for name, saver in savers.items():
      folder.export_policy(saver, name)
    return row

  progress = Progress(num_env_steps, counter.value, enabled=show_progress)
  last_row = evaluate_and_export() if not resumed else (folder.read_eval_metrics() or [{}])[-1]
  next_eval = _next_multiple(counter.value, eval_interval)
  next_checkpoint = _next_multiple(counter.value, checkpoint_interval or eval_interval)
  owed_train_steps = 0.0
  last_log = (time.time(), counter.value, int(train_step.numpy()))
  try:
    while counter.value < num_env_steps:
      before = counter.value
      collect_actor.run()
      owed_train_steps += (counter.value - before) * samples_per_insert / batch_size
      if owed_train_steps >= 1:
        ratio_learner.run(iterations=int(owed_train_steps))
        owed_train_steps -= int(owed_train_steps)
      if counter.value >= next_eval or counter.value >= num_env_steps:
        last_row = evaluate_and_export()
        next_eval = _next_multiple(counter.value, eval_interval)
      if counter.value >= next_checkpoint or counter.value >= num_env_steps:
        save_checkpoint()
        next_checkpoint = _next_multiple(counter.value, checkpoint_interval or eval_interval)
      if time.time() - last_log[0] >= progress.interval_s or counter.value >= num_env_steps:
        last_log = _log_rates(writer, last_log, counter.value, int(train_step.numpy()),
                              collect_actor)
        progress.update(counter.value, collect_return=_metric(collect_actor, 'AverageReturn'),
                        eval_return=last_row.get('average_return'),
                        env_sps=last_log[3], train_sps=last_log[4])
  finally:
    progress.close()
    replay.close()
  return last_row


def _initial_collect(env, replay: EmbeddedReplay, counter: StepCounter, num_steps: int,
                     train_step: tf.Variable) -> None:
  """Fills the replay with `num_steps` uniformly random steps."""
  if num_steps <= 0:
    return
  random_policy = random_py_policy.RandomPyPolicy(env.time_step_spec(), env.action_spec())
  print(f'Collecting {num_steps} random steps to fill the replay...', file=sys.stderr)
  actor.Actor(env, random_policy, train_step, steps_per_run=num_steps,
              observers=[replay.observer, counter]).run()


def _next_multiple(value: int, interval: int) -> int:
  """The first multiple of `interval` strictly above `value`."""
  return (value // interval + 1) * interval


def _metric(actor_: actor.Actor, name: str) -> Optional[float]:
  for metric in actor_.metrics:
    if metric.name == name:
      return float(metric.result())
  return None


def _eval_row(eval_actor: actor.Actor, env_steps: int, train_step: int, num_episodes: int,
              wall_time_s: float) -> Dict:
  return {'env_steps': env_steps, 'train_step': train_step,
          'average_return': _metric(eval_actor, 'AverageReturn'),
          'average_episode_length': _metric(eval_actor, 'AverageEpisodeLength'),
          'num_episodes': num_episodes,
          'wall_time_s': round(wall_time_s, 3)}


def _log_rates(writer, last_log, env_steps: int, train_steps: int, collect_actor) -> tuple:
  """Writes steps-per-second and collection returns; returns the new `last_log` tuple."""
  now = time.time()
  dt = max(now - last_log[0], 1e-6)
  env_sps = (env_steps - last_log[1]) / dt
  train_sps = (train_steps - last_log[2]) / dt
  with writer.as_default(step=env_steps):
    tf.summary.scalar('perf/env_steps_per_sec', env_sps)
    tf.summary.scalar('perf/learner_steps_per_sec', train_sps)
    for name in ('AverageReturn', 'AverageEpisodeLength'):
      value = _metric(collect_actor, name)
      if value is not None:
        tf.summary.scalar(f'collect/{name}', value)
  return (now, env_steps, train_steps, env_sps, train_sps)
