"""The evaluator role: greedy episodes with the learner's latest weights, into eval_metrics.jsonl.

It polls the weights table and evaluates (`train_loop.Evaluator`, `train_eval.num_eval_episodes`
episodes, environment seed `train_eval.seed + 1`) when the published weights are new and
either `train_eval.eval_interval` environment steps have passed since its last evaluation or
the learner marked them final. Rows go to `<root_dir>/eval_metrics.jsonl` with `train_eval`'s
fields (env_steps, train_step, average_return, average_episode_length, num_episodes,
wall_time_s, replay_items); env_steps, train_step and wall_time_s are the learner's at the push
of the evaluated weights. Summaries go to `<root_dir>/eval`.

The first evaluation of a fresh run is of the first published weights (train step 0), as in
`train_eval`. On a resumed run the evaluator first drops rows newer than the published
environment steps (a restored server went back to its checkpoint). It exits after evaluating
final weights published while it runs, or when the learner marks final the weights of a train
step it has evaluated already (their last non-final push crossed `eval_interval`).
"""

import time
from typing import Dict, Optional

import gin
import tensorflow as tf

from tf_aql.distributed.acting_role import join_run
from tf_aql.distributed.connection import DEFAULT_SERVER_TIMEOUT_S
from tf_aql.distributed.role import log
from tf_aql.train_loop import Evaluator, next_multiple

ROLE = 'evaluator'


@gin.configurable
def run_evaluator(root_dir: str, replay_server_address: str,
                  poll_interval_s: float = 1.0,
                  server_timeout_s: float = DEFAULT_SERVER_TIMEOUT_S) -> Optional[Dict]:
  """Evaluates published weights until it has evaluated the learner's final ones.

  Args:
    root_dir: the run folder (eval_metrics.jsonl and eval/ summaries go there).
    replay_server_address: 'host:port' of the replay server.
    poll_interval_s: seconds between two looks at the weights table.
    server_timeout_s: how long to wait for the replay server at start.

  Returns:
    The last row written.

  Stopped early, SIGTERM ends it at once and Ctrl-C raises KeyboardInterrupt; rows already
  written stay.
  """
  settings, folder, eval_env, state, replay, weights = join_run(
      ROLE, root_dir, replay_server_address, 1, server_timeout_s)
  evaluator = Evaluator(folder, eval_env, state.greedy_policy, state.train_step,
                        settings.num_eval_episodes,
                        tf.summary.create_file_writer(folder.path('eval')))
  weights.wait_until_available(
      on_wait=lambda s: log(ROLE, f'waiting for the learner\'s weights ({s:.0f} s)'))
  weights.pull()
  folder.trim_eval_metrics(weights.env_step)
  rows = folder.read_eval_metrics()
  evaluated = {row['train_step'] for row in rows}
  next_eval = next_multiple(rows[-1]['env_steps'], settings.eval_interval) if rows else 0
  last_row = rows[-1] if rows else None
  log(ROLE, f'started; weights of train_step {weights.train_step}, {len(rows)} earlier rows')
  while True:
    is_new = weights.train_step not in evaluated
    if weights.final and not is_new:  # its last non-final push was evaluated already
      log(ROLE, f'the final weights (train_step {weights.train_step}) were evaluated; done')
      return last_row
    if is_new and (weights.env_step >= next_eval or weights.final):
      last_row = evaluator.evaluate(weights.env_step, weights.wall_time_s,
                                    replay_items=replay.num_items)
      evaluated.add(last_row['train_step'])
      next_eval = next_multiple(weights.env_step, settings.eval_interval)
      log(ROLE, f'train_step {last_row["train_step"]} env_steps {last_row["env_steps"]}: '
          f'average_return {last_row["average_return"]:.4g} over '
          f'{last_row["num_episodes"]} episodes')
      if weights.final:
        log(ROLE, 'evaluated the final weights; done')
        return last_row
    time.sleep(poll_interval_s)
    weights.pull()
