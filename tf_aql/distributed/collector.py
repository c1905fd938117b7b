"""The collector role: acts with the latest published weights and writes experience to Reverb.

Each collector runs the agent's collection policy (`agent.collect_policy`, built from the same
gin files as the learner) in its own environment (seed: `train_eval.seed + 1000 x (task_id +
1)`), writes n+1-step sequences to the replay server with a `ReverbAddTrajectoryObserver`, and
pulls the learner's weights every `weights_update_period` environment steps. While the replay
table has had fewer than `train_eval.initial_collect_steps` inserts (all collectors together),
it acts uniformly at random instead, as `train_eval` does before training.

For an on-policy agent (IMPALA) collectors are the paper's actors: they write unrolls of T + 1
steps with stride T across episode ends into the unroll queue (the writer `train_eval` uses,
`tf_aql.replay.Replay(unrolls=True)`), with the collect policy, which records the behaviour
log-probabilities V-trace needs; there are no random steps. A full queue blocks their inserts.

After each period it appends a row to `<root_dir>/collectors/collector_<task_id>.jsonl`:
`task_id`, `pid`, `policy` ('random' or 'collect'), `env_steps` (this process),
`items_acknowledged` (sequences this process wrote that the server has acknowledged),
`weights_train_step` (the train step of the weights it acted with), `time` (Unix seconds).
Collection returns go to TensorBoard under `<root_dir>/collect/collector_<task_id>`.

A collector runs until it is stopped: SIGTERM ends it at once (it may be blocked inside Reverb,
where a Python handler would not run; its rows are on disk, unacknowledged items are lost
either way), Ctrl-C raises KeyboardInterrupt. When the learner stops sampling, the rate limiter
blocks its inserts. Collectors can join or leave at any time.
"""

import os
import time

import gin

from tf_aql.distributed.acting_role import join_run
from tf_aql.distributed.connection import DEFAULT_SERVER_TIMEOUT_S
from tf_aql.distributed.role import log
from tf_aql.train_loop import StepCounter, make_collect_actor, make_random_actor, metric_value


def collector_seed(seed: int, task_id: int) -> int:
  return seed + 1000 * (task_id + 1)


def collector_log_name(task_id: int) -> str:
  return os.path.join('collectors', f'collector_{task_id}.jsonl')


@gin.configurable
def run_collector(root_dir: str, replay_server_address: str, task_id: int,
                  weights_update_period: int = 100,
                  progress_interval_s: float = 10.0,
                  server_timeout_s: float = DEFAULT_SERVER_TIMEOUT_S) -> None:
  """Collects until stopped.

  Args:
    root_dir: the run folder (collector rows and summaries go there).
    replay_server_address: 'host:port' of the replay server.
    task_id: this collector's index (its seed, log and summary names).
    weights_update_period: environment steps between two pulls of the learner's weights.
    progress_interval_s: seconds between console lines.
    server_timeout_s: how long to wait for the replay server at start.

  Raises:
    KeyboardInterrupt: stopped by Ctrl-C.
  """
  role = f'collector {task_id}'
  settings, folder, env, state, replay, weights = join_run(
      role, root_dir, replay_server_address, collector_seed(0, task_id), server_timeout_s)
  counter = StepCounter()
  observers = [replay.observer, counter]
  random_steps = settings.random_steps_for(state.unroll_length)
  random_actor = None
  collect_actor = None
  last_log = 0.0
  log(role, f'started (pid {os.getpid()}), writing to {replay_server_address}')
  while True:
    if collect_actor is None and replay.num_inserts < random_steps:
      random_actor = random_actor or make_random_actor(env, state.train_step, observers,
                                                       weights_update_period)
      random_actor.run()
      policy = 'random'
    else:
      if collect_actor is None:
        weights.wait_until_available(
            on_wait=lambda s: log(role, f'waiting for the learner\'s weights ({s:.0f} s)'))
        replay.end_episode()  # the collect actor starts a new episode
        collect_actor = make_collect_actor(
            env, state.collect_policy, state.train_step, observers, weights_update_period,
            folder.path('collect', f'collector_{task_id}'), settings.summary_interval)
      weights.pull()
      collect_actor.run()
      policy = 'collect'
    replay.flush()
    row = {'task_id': task_id, 'pid': os.getpid(), 'policy': policy,
           'env_steps': counter.value, 'items_acknowledged': replay.observer.items_created,
           'weights_train_step': weights.train_step if policy == 'collect' else None,
           'time': round(time.time(), 3)}
    folder.append_jsonl(collector_log_name(task_id), row)
    if time.time() - last_log >= progress_interval_s:
      last_log = time.time()
      average_return = metric_value(collect_actor, 'AverageReturn') if collect_actor else None
      log(role, f'{policy} policy, weights of train_step {row["weights_train_step"]}: '
          f'{counter.value} env steps, {row["items_acknowledged"]} items acknowledged'
          + (f', collect return {average_return:.3g}' if average_return is not None else ''))
