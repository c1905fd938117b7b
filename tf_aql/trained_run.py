"""Loading the agent of a finished (or running) run folder at its latest checkpoint.

Benchmarks and analysis tools need the trained critic and proposal themselves, not only the
exported policy: `load_trained_run(root_dir)` parses the folder's `operative_config.gin` (so the
networks are built exactly as the run built them), creates the environment and the agent, and
restores the latest checkpoint strictly.
"""

import dataclasses
import os

import gin
from tf_agents.environments import py_environment

from tf_aql import cli
from tf_aql.environments import suite_gymnasium
from tf_aql.run_folder import RunFolder, RunFolderError


@dataclasses.dataclass
class TrainedRun:
  """A run folder's settings, environment and restored agent state.

  Attributes:
    root_dir: the run folder.
    settings: its `train_loop.RunSettings`.
    env: a fresh environment of the run (seeded with the run's seed).
    state: the `train_loop.AgentState` restored from the latest checkpoint.
    env_kwargs: the `suite_gymnasium.load.env_kwargs` binding of the run ({} if unbound).
  """
  root_dir: str
  settings: object
  env: py_environment.PyEnvironment
  state: object
  env_kwargs: dict


def load_trained_run(root_dir: str) -> TrainedRun:
  """Builds the run's agent from its operative config and restores its latest checkpoint.

  Clears the global gin config first (the run's config replaces it).

  Raises:
    RunFolderError: the folder has no operative config or no checkpoint, or the checkpoint
      does not match.
  """
  folder = RunFolder(root_dir)
  config_path = folder.path('operative_config.gin')
  if not os.path.exists(config_path):
    raise RunFolderError(f'{root_dir} has no operative_config.gin: it is not a tf_aql run '
                         'folder (train/train_eval.py writes one when a run starts).')
  gin.clear_config()
  cli.parse_gin([config_path], [])
  from tf_aql import train_loop  # pylint: disable=g-import-not-at-top
  settings = train_loop.RunSettings.from_gin()
  env = train_loop.load_env(settings, settings.seed)
  state = train_loop.AgentState(env)
  if not state.make_checkpoint(folder.checkpoint_dir).restore():
    raise RunFolderError(f'{root_dir} has no checkpoint yet: wait for the run to write one '
                         '(every eval_interval environment steps).')
  env_kwargs = dict(gin.get_bindings(suite_gymnasium.load).get('env_kwargs') or {})
  return TrainedRun(root_dir=root_dir, settings=settings, env=env, state=state,
                    env_kwargs=env_kwargs)

