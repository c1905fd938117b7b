"""The learner role: samples the replay server's table, trains, publishes weights, checkpoints.

It is `train_eval`'s learning half (the same `Trainer`: TF-Agents `Learner`, checkpoints of
agent + counters + replay, policy exports, loss summaries) with collection moved to the
collectors. The replay table's rate limiter keeps `train_eval.samples_per_insert`, so the
learner runs as fast as the collectors feed it and vice versa.

- **On-policy agents** (IMPALA, `AgentState.unroll_length` = T): the server serves the unroll
  queue, and the learner takes batches of `batch_size` unrolls off it, oldest first, each
  used once (one sampler stream, as in `train_eval`); the collectors are IMPALA's actors.
- **Stop**: at `num_train_steps` train steps. Default (`RunSettings.train_steps_for`): the train
  steps `train_eval` runs for `train_eval.num_env_steps` ((num_env_steps -
  initial_collect_steps) x samples_per_insert / batch_size), which the rate limiter reaches
  after about `num_env_steps` environment steps; for on-policy agents num_env_steps // (T x
  batch_size), a batch of unrolls per train step.
  SIGTERM or SIGINT: a checkpoint, then `KeyboardInterrupt` (exit status 130). The signal is
  seen between train calls; a train call waiting for samples that no collector inserts
  returns after `sample_timeout_s` (see `Trainer.train`), so the stop checkpoint comes
  within about push_period train steps + `sample_timeout_s` + the checkpoint's time.
- **Environment steps** come from the replay table's lifetime insert count (restored with the
  server's checkpoint; `Replay.num_inserted_steps`): one insert per environment step for
  1-step updates, T per unroll for on-policy agents (episode ends' boundary frames included).
- **Outputs** in `<root_dir>`: `checkpoints/` (every `train_eval.checkpoint_interval`
  environment steps, at the end and on SIGTERM/SIGINT), `policies/{greedy,collect}` (every
  `train_eval.eval_interval` environment steps and at the end), `operative_config.gin`,
  TensorBoard `train/` (losses; `perf/learner_steps_per_sec`, `perf/env_steps_per_sec`).
  `eval_metrics.jsonl` is the evaluator's.
- **Console**: `[learner] ...` progress lines (the launcher shows them), and at the end a
  `[learner] summary {...}` JSON line.
"""

import json
import time
from typing import Dict, Optional, Tuple

import gin

from tf_aql.distributed.connection import DEFAULT_SERVER_TIMEOUT_S, wait_for_server
from tf_aql.distributed.policy_weights import PolicyWeights
from tf_aql.distributed.role import log, seed_everything
from tf_aql.distributed.stop_signal import StopSignal
from tf_aql.replay import RemoteReplay
from tf_aql.run_folder import RunFolder
from tf_aql.train_loop import AgentState, RateMeter, RunSettings, Trainer, load_env
from tf_aql.train_loop import next_multiple

ROLE = 'learner'


@gin.configurable(denylist=['stop'])  # a Python object, not a setting
def run_learner(root_dir: str, replay_server_address: str,
                num_train_steps: Optional[int] = None,
                push_period: int = 10,
                progress_interval_s: float = 10.0,
                server_timeout_s: float = DEFAULT_SERVER_TIMEOUT_S,
                sample_timeout_s: float = 2.0,
                stop: Optional[StopSignal] = None) -> Dict:
  """Trains from the replay server until `num_train_steps`; resumes from `root_dir`.

  Args:
    root_dir: the run folder.
    replay_server_address: 'host:port' of the replay server.
    num_train_steps: stop at this train step (default: `RunSettings.num_train_steps`).
    push_period: train steps between two publications of the policy weights.
    progress_interval_s: seconds between progress lines and rate summaries.
    server_timeout_s: how long to wait for the replay server at start.
    sample_timeout_s: a train call whose sample waits this long on the rate limiter (no
      inserts) returns early, so that a stop request is seen.
    stop: the stop request to watch (default: SIGTERM and SIGINT, from the moment training
      can start; before, a signal just ends the process).

  Returns:
    The summary (also printed as a `[learner] summary` JSON line).

  Raises:
    KeyboardInterrupt: stopped by SIGTERM or SIGINT, after saving a checkpoint.
  """
  settings = RunSettings.from_gin()
  seed_everything(settings.seed)
  folder = RunFolder(root_dir)
  state = AgentState(load_env(settings, settings.seed))
  target = (settings.train_steps_for(state.unroll_length) if num_train_steps is None
            else num_train_steps)
  wait_for_server(replay_server_address, server_timeout_s,
                  on_wait=lambda s: log(ROLE, f'waiting for the replay server ({s:.0f} s)'))
  folder.check_resume_config(gin.operative_config_str() + settings.gin_text())
  folder.create()
  replay = RemoteReplay(state.agent.collect_data_spec, state.sequence_length,
                        replay_server_address, sample_timeout_s=sample_timeout_s,
                        unrolls=state.learns_from_unrolls)
  trainer = Trainer(folder, state, lambda: replay.dataset(settings.batch_size), replay,
                    settings.summary_interval)
  resumed = trainer.restore()
  folder.write_text('operative_config.gin', gin.operative_config_str() +
                    '\n# train_eval settings the distributed roles read\n' +
                    settings.gin_text())
  weights = PolicyWeights(state)
  weights.connect(replay_server_address)

  def publish(final: bool = False) -> int:
    env_steps = replay.num_inserted_steps
    state.env_step.assign(env_steps)
    state.wall_time.assign(trainer.clock.elapsed())
    weights.push(final=final)
    return env_steps

  env_steps = publish()
  log(ROLE, f'{"resumed from its checkpoint at" if resumed else "starting at"} train_step '
      f'{trainer.train_step}/{target}; replay items {replay.num_items}, env_steps {env_steps}')
  stop = stop or StopSignal(ROLE)  # from here on a stop saves a checkpoint; before, it exits
  _wait_for_initial_items(replay, _items_to_start(settings, state.unroll_length), stop)

  meter = RateMeter(trainer.writer, env_steps, trainer.train_step)
  start = None  # (time, env_steps, train_step) after the first train call, which traces
  next_export = next_multiple(env_steps, settings.eval_interval)
  next_checkpoint = next_multiple(env_steps, settings.checkpoint_period)
  last_log = time.time()
  starved = False  # the last train call ended waiting for inserts
  while trainer.train_step < target and not stop.requested:
    starved = not trainer.train(min(push_period, target - trainer.train_step))
    env_steps = publish()
    start = start or (time.time(), env_steps, trainer.train_step)
    if env_steps >= next_export:
      trainer.export_policies()
      next_export = next_multiple(env_steps, settings.eval_interval)
    if env_steps >= next_checkpoint:
      trainer.save_checkpoint(env_steps)
      next_checkpoint = next_multiple(env_steps, settings.checkpoint_period)
    if time.time() - last_log >= progress_interval_s:
      last_log = time.time()
      env_sps, train_sps = meter.log(env_steps, trainer.train_step)
      log(ROLE, f'train_step {trainer.train_step}/{target} env_steps {env_steps} replay items '
          f'{replay.num_items} train/s {train_sps:.1f} env/s {env_sps:.1f}' +
          ('; waiting for inserts' if starved else ''))

  finished = trainer.train_step >= target
  env_steps = publish(final=finished)
  meter.log(env_steps, trainer.train_step)
  summary = _summary(start or (time.time(), env_steps, trainer.train_step), env_steps,
                     trainer.train_step, target, replay.num_items, finished)
  trainer.save_checkpoint(env_steps)
  if finished:  # (stopping early skips the export: a stop should be quick)
    trainer.export_policies()
  trainer.flush_summaries()
  log(ROLE, f'{"done" if finished else "stopped"}: train_step {trainer.train_step}/{target}, '
      f'env_steps {env_steps}; {"checkpoint and policies" if finished else "checkpoint"} '
      f'saved in {folder.root_dir}')
  log(ROLE, 'summary ' + json.dumps(summary))
  if not finished:
    raise KeyboardInterrupt
  return summary


def _items_to_start(settings: RunSettings, unroll_length: Optional[int]) -> int:
  """Items the table holds before the first train call: the random steps the rate limiter
  needs before it lets samples through; for an on-policy agent, a first batch of unrolls."""
  needed = (settings.initial_collect_steps if unroll_length is None
            else settings.batch_size)
  return min(max(1, needed), settings.replay_capacity)


def _wait_for_initial_items(replay: RemoteReplay, needed: int, stop: StopSignal) -> None:
  """Waits (interruptibly) until the table holds `needed` items."""
  last_report = 0.0
  while replay.num_items < needed and not stop.requested:
    if time.time() - last_report >= 10:
      last_report = time.time()
      log(ROLE, f'waiting for the collectors: replay items {replay.num_items}/{needed}')
    time.sleep(0.5)


def _summary(start: Tuple[float, int, int], env_steps: int, train_step: int, target: int,
             replay_items: int, finished: bool) -> Dict:
  """Totals of this session; rates from the end of the first train call (after tracing)."""
  seconds = max(time.time() - start[0], 1e-6)
  return {'finished': finished, 'train_step': train_step, 'target_train_step': target,
          'env_steps': env_steps, 'replay_items': replay_items,
          'session_seconds': round(seconds, 3),
          'session_env_steps': env_steps - start[1],
          'session_train_steps': train_step - start[2],
          'env_steps_per_sec': round((env_steps - start[1]) / seconds, 3),
          'train_steps_per_sec': round((train_step - start[2]) / seconds, 3)}
