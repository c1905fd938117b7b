"""How an acting role (collector or evaluator) joins a run: env, agent, replay and weights."""

from typing import NamedTuple

from tf_agents.environments import py_environment

from tf_aql.distributed.connection import wait_for_server
from tf_aql.distributed.policy_weights import PolicyWeights
from tf_aql.distributed.role import limit_threads, log, seed_everything
from tf_aql.replay import RemoteReplay
from tf_aql.run_folder import RunFolder
from tf_aql.train_loop import AgentState, RunSettings, load_env


class ActingRole(NamedTuple):
  """What a collector or an evaluator works with once it has joined the run."""
  settings: RunSettings
  folder: RunFolder
  env: py_environment.PyEnvironment
  state: AgentState
  replay: RemoteReplay
  weights: PolicyWeights


def join_run(role: str, root_dir: str, replay_server_address: str, seed_offset: int,
             server_timeout_s: float) -> ActingRole:
  """Builds the env and agent from gin, waits for the server, connects replay and weights.

  The replay is the one `train_eval` would use for the agent: the uniform table of n+1-step
  sequences, or for an on-policy agent the unroll queue (T+1-step unrolls, stride T, across
  episode ends; `tf_aql.replay.Replay`).

  Args:
    role: the name in console lines, e.g. 'collector 1'.
    root_dir: the run folder.
    replay_server_address: 'host:port' of the replay server.
    seed_offset: added to `train_eval.seed` for this role's environment and TF seeds.
    server_timeout_s: how long to wait for the replay server.
  """
  limit_threads(1)
  settings = RunSettings.from_gin()
  seed = settings.seed + seed_offset
  seed_everything(seed)
  folder = RunFolder(root_dir)
  env = load_env(settings, seed)
  state = AgentState(env)
  wait_for_server(replay_server_address, server_timeout_s,
                  on_wait=lambda s: log(role, f'waiting for the replay server ({s:.0f} s)'))
  folder.create()
  replay = RemoteReplay(state.agent.collect_data_spec, state.sequence_length,
                        replay_server_address, unrolls=state.learns_from_unrolls)
  weights = PolicyWeights(state)
  weights.connect(replay_server_address)
  return ActingRole(settings, folder, env, state, replay, weights)
