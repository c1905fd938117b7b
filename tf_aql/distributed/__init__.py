"""Multi-process training over Reverb: replay server, collectors, learner, evaluator, launcher.

One concept per module; the public names are re-exported here, imported on first use so that
`tf_aql.distributed.launcher` starts without TensorFlow:

    replay_server.py   run_replay_server, make_distributed_replay_table
    collector.py       run_collector
    learner.py         run_learner
    evaluator.py       run_evaluator
    policy_weights.py  PolicyWeights (TF-Agents' variable-container convention)
    connection.py      wait_for_server, ReplayServerUnavailableError
    launcher.py        Launcher (all roles as subprocesses of one machine)
    ray_engine.py      RayLauncher (all roles as Ray actors, one machine or a cluster)

See docs/DISTRIBUTED.md.
"""

import importlib

_EXPORTS = {
    'run_replay_server': 'replay_server',
    'make_distributed_replay_table': 'replay_server',
    'run_collector': 'collector',
    'run_learner': 'learner',
    'run_evaluator': 'evaluator',
    'PolicyWeights': 'policy_weights',
    'wait_for_server': 'connection',
    'ReplayServerUnavailableError': 'connection',
    'Launcher': 'launcher',
    'RayLauncher': 'ray_engine',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
  if name not in _EXPORTS:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  return getattr(importlib.import_module(f'{__name__}.{_EXPORTS[name]}'), name)

