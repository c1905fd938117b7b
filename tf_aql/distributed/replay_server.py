"""The replay server role: one Reverb server holding the replay table and the policy weights.

Tables:
- `uniform_table` (`tf_aql.replay.make_replay_table`): FIFO, uniform sampling, at most
  `train_eval.replay_capacity` sequences, with a `SampleToInsertRatio` rate limiter
  (`samples_per_insert_limiter`) that keeps the learner's samples per collectors' insert near
  `train_eval.samples_per_insert`, and lets the learner start once
  `train_eval.initial_collect_steps` sequences are in;
- or, for an on-policy agent (IMPALA, `AgentState.unroll_length` set), `unroll_queue`
  (`tf_aql.replay.make_unroll_queue`, the table `train_eval` uses): a FIFO queue of at most
  `train_eval.replay_capacity` unrolls, each sampled once; a full queue blocks the collectors'
  inserts until the learner takes unrolls off it;
- `variables` (`tf_aql.distributed.policy_weights`): the learner's latest policy weights.

The server checkpoints into `<root_dir>/replay` whenever the learner checkpoints, and a
restarted server restores the latest checkpoint (both tables, and the rate limiter's insert
and sample counts).
"""

import time
from typing import Callable, NamedTuple, Optional

import gin
import reverb

from tf_aql import replay as replay_lib
from tf_aql.distributed import policy_weights
from tf_aql.distributed.policy_weights import PolicyWeights
from tf_aql.distributed.role import log, seed_everything
from tf_aql.distributed.stop_signal import StopSignal
from tf_aql.run_folder import RunFolder
from tf_aql.train_loop import AgentState, RunSettings, load_env

ROLE = 'replay_server'


@gin.configurable
def make_distributed_replay_table(settings: RunSettings,
                                  error_buffer: Optional[float] = None) -> reverb.Table:
  """The replay table with a samples-per-insert rate limiter.

  Args:
    settings: the run's `train_eval` settings (capacity, ratio, batch size, initial steps).
    error_buffer: how far (in samples) the learner's samples may drift from
      `samples_per_insert` x inserts before the side that is ahead blocks. Default:
      max(0.1 x samples_per_insert x initial_collect_steps, 2 x max(batch_size,
      samples_per_insert)): TF-Agents' distributed examples' 10% tolerance, with a floor of two
      batches (Reverb needs at least samples_per_insert). Collectors may insert that many
      samples' worth (error_buffer / samples_per_insert items) beyond the ratio before they
      wait for the learner, so they start at once and block only when the learner lags.
  """
  if error_buffer is None:
    error_buffer = max(0.1 * settings.samples_per_insert * settings.initial_collect_steps,
                       2.0 * max(settings.batch_size, settings.samples_per_insert))
  min_size = min(max(1, settings.initial_collect_steps), settings.replay_capacity)
  limiter = replay_lib.samples_per_insert_limiter(settings.samples_per_insert, min_size,
                                                  float(error_buffer))
  return replay_lib.make_replay_table(settings.replay_capacity, rate_limiter=limiter)


class ReplayService(NamedTuple):
  """A started replay server and a one-line description of its tables."""
  server: reverb.Server
  describe: Callable[[], str]


def start_replay_server(root_dir: str, port: Optional[int] = None) -> ReplayService:
  """Builds the tables from gin, restores the latest checkpoint and serves on `port`
  (default: a free one, `server.port`)."""
  settings = RunSettings.from_gin()
  seed_everything(settings.seed)
  folder = RunFolder(root_dir)
  state = AgentState(load_env(settings, settings.seed))  # for the weights' signature
  replay_table = (replay_lib.make_unroll_queue(settings.replay_capacity)
                  if state.learns_from_unrolls else make_distributed_replay_table(settings))
  tables = [replay_table, PolicyWeights(state).make_table()]
  folder.create()
  server = replay_lib.make_server(tables, folder.replay_dir, port)
  client = reverb.Client(f'localhost:{server.port}')
  service = ReplayService(server, lambda: _describe(client, replay_table.name))
  log(ROLE, f'serving on port {server.port}; {service.describe()}; checkpoints in '
      f'{folder.replay_dir}')
  return service


def run_replay_server(root_dir: str, port: int) -> None:
  """Serves the replay and the weights tables on `port` until SIGTERM or SIGINT."""
  stop = StopSignal(ROLE)
  service = start_replay_server(root_dir, port)
  try:
    while not stop.requested:
      time.sleep(0.5)
  finally:
    log(ROLE, f'stopping; {service.describe()}')
    service.server.stop()


def _describe(client: reverb.Client, table_name: str) -> str:
  info = client.server_info()
  table = info[table_name]
  limiter = table.rate_limiter_info
  return (f'replay items {table.current_size}, inserts {limiter.insert_stats.completed}, '
          f'samples {limiter.sample_stats.completed}, '
          f'weights {"present" if info[policy_weights.TABLE_NAME].current_size else "absent"}')
