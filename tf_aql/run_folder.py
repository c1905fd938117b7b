"""The run folder: where a training run keeps everything, and how it resumes.

    <root_dir>/
      operative_config.gin     gin values the run used
      checkpoints/             agent, optimizers, train_step, env_step, wall time
      replay/                  Reverb checkpoints of the replay table
      policies/greedy/         SavedModel of the greedy policy (plain tf.saved_model.load runs it)
      policies/collect/        SavedModel of the collection policy
      train/, eval/            TensorBoard summaries
      eval_metrics.jsonl       one JSON object per evaluation

    Distributed runs (docs/DISTRIBUTED.md) add:
      collect/collector_<k>/   TensorBoard summaries of collector k (returns, episode lengths)
      collectors/collector_<k>.jsonl  one JSON object per weights update of collector k
      logs/<role>.log          each role's console output (train/distributed/launch.py)

Every file is written next to its final name and renamed into place, so a run killed at any
moment leaves either the old or the new version, never half of one.

A run resumes only with the method, networks and environment it was started with: the
`IDENTITY_CONFIGURABLES` bindings of its operative_config.gin must equal the new ones
(`check_resume_config`); budgets, intervals and learning rates may change.
"""

import json
import os
import shutil
import sys
from typing import Dict, List, Optional

import gin
from gin import config_parser
import tensorflow as tf
from tf_agents.policies import policy_saver

from tf_aql.errors import TfAqlError


class RunFolderError(TfAqlError):
  """The run folder cannot be used (for example a checkpoint that does not restore)."""


# What makes a run the same run: the method (agent and search), the networks' shapes and the
# environment. Any other binding (budgets, intervals, learning rates) may change on resume.
IDENTITY_CONFIGURABLES = ('make_agent', 'make_aql_agent', 'tf_aql.CriticNetwork',
                          'ProposalNetwork', 'PolicyValueNetwork', 'suite_gymnasium.load')
IDENTITY_PARAMETERS = ('train_eval.env_name',
                       'ImpalaAgent.unroll_length',  # the length of the queued unrolls
                       'make_ddpg_agent.actor_fc_layer_params',
                       'make_ddpg_agent.critic_observation_fc_layer_params',
                       'make_ddpg_agent.critic_joint_fc_layer_params',
                       'make_sac_agent.actor_fc_layer_params',
                       'make_sac_agent.critic_joint_fc_layer_params')
MAY_CHANGE = ('make_aql_agent.learning_rate', 'make_aql_agent.proposal_learning_rate')


class RunFolder:
  """Paths of one run and the atomic writes into it."""

  def __init__(self, root_dir: str):
    self.root_dir = os.path.abspath(os.path.expanduser(root_dir))

  def path(self, *parts: str) -> str:
    return os.path.join(self.root_dir, *parts)

  @property
  def checkpoint_dir(self) -> str:
    return self.path('checkpoints')

  @property
  def replay_dir(self) -> str:
    return self.path('replay')

  @property
  def eval_metrics_path(self) -> str:
    return self.path('eval_metrics.jsonl')

  def create(self) -> None:
    """Makes the folder (and its parents) if needed.

    Raises:
      RunFolderError: `root_dir` is a file, cannot be made, or is not writable.
    """
    if os.path.exists(self.root_dir) and not os.path.isdir(self.root_dir):
      raise RunFolderError(f'--root_dir {self.root_dir} is a file: give the path of a folder '
                           '(it is created if missing).')
    try:
      os.makedirs(self.root_dir, exist_ok=True)
    except OSError as error:
      raise RunFolderError(f'Cannot create --root_dir {self.root_dir} ({error.strerror}): choose '
                           'a folder you can write to.') from None
    if not os.access(self.root_dir, os.W_OK | os.X_OK):
      raise RunFolderError(f'--root_dir {self.root_dir} is not writable: choose a folder you can '
                           'write to.')

  def check_resume_config(self, operative_config: str) -> None:
    """Refuses to resume a run with another method, network shape or environment.

    Args:
      operative_config: the new run's bindings (gin's operative config text, plus
        `train_eval.env_name`), compared with the folder's operative_config.gin when the
        folder has a checkpoint to resume.

    Raises:
      RunFolderError: naming the first binding that differs, before anything is written.
    """
    saved_path = self.path('operative_config.gin')
    if tf.train.latest_checkpoint(self.checkpoint_dir) is None or not os.path.exists(saved_path):
      return
    with open(saved_path) as f:
      saved = identity_bindings(f.read())
    current = identity_bindings(operative_config)
    differ = [key for key in sorted(saved.keys() & current.keys()) if saved[key] != current[key]]
    if differ:
      key = differ[0]
      more = f' (and {len(differ) - 1} more)' if len(differ) > 1 else ''
      raise RunFolderError(
          f'{self.root_dir} holds a run trained with {key} = {saved[key]}, but the gin files now '
          f'give {current[key]}{more}: resume it with its own gin files (its '
          'operative_config.gin lists them), or start the new configuration in a new --root_dir.')

  def write_text(self, name: str, text: str) -> None:
    """Writes `<root_dir>/<name>` atomically."""
    target = self.path(name)
    with open(target + '.tmp', 'w') as f:
      f.write(text)
    os.replace(target + '.tmp', target)

  # --- eval_metrics.jsonl ---------------------------------------------------------------

  def read_eval_metrics(self) -> List[Dict]:
    return self.read_jsonl('eval_metrics.jsonl')

  def append_eval_metrics(self, row: Dict) -> None:
    self.append_jsonl('eval_metrics.jsonl', row)

  # --- JSON-lines files -------------------------------------------------------------------

  def read_jsonl(self, name: str) -> List[Dict]:
    """The rows of `<root_dir>/<name>` ([] if it does not exist; a torn last line is skipped)."""
    path = self.path(name)
    if not os.path.exists(path):
      return []
    rows = []
    with open(path) as f:
      for line in f:
        try:
          rows.append(json.loads(line))
        except ValueError:
          continue  # a line cut short by a killed process
    return rows

  def append_jsonl(self, name: str, row: Dict) -> None:
    """Appends `row` as one JSON line to `<root_dir>/<name>` and syncs it to disk."""
    path = self.path(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'a') as f:
      f.write(json.dumps(row) + '\n')
      f.flush()
      os.fsync(f.fileno())

  def trim_eval_metrics(self, max_env_steps: Optional[int]) -> None:
    """Keeps the rows with env_steps <= max_env_steps (all rows are dropped when None).

    A resumed run restarts from its last checkpoint, so evaluations written after it are
    dropped and written again, never counted twice.
    """
    rows = [] if max_env_steps is None else [
        r for r in self.read_eval_metrics() if r['env_steps'] <= max_env_steps]
    self.write_text('eval_metrics.jsonl', ''.join(json.dumps(r) + '\n' for r in rows))

  # --- policies ---------------------------------------------------------------------------

  def export_policy(self, saver: policy_saver.PolicySaver, name: str) -> str:
    """Saves a SavedModel to `policies/<name>`, replacing the previous one atomically."""
    target = self.path('policies', name)
    staging = target + '.staging'
    shutil.rmtree(staging, ignore_errors=True)
    saver.save(staging)
    old = target + '.old'
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(target):
      os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


class Checkpoint:
  """tf.train checkpoints of the agent and the run's counters, restored strictly."""

  def __init__(self, directory: str, max_to_keep: int = 2, **objects: tf.Module):
    self._directory = directory
    self._checkpoint = tf.train.Checkpoint(**objects)
    self._manager = tf.train.CheckpointManager(self._checkpoint, directory, max_to_keep)
    self.restored_path: Optional[str] = None  # set by `restore`

  @property
  def exists(self) -> bool:
    return self._manager.latest_checkpoint is not None

  def restore(self) -> bool:
    """Restores the newest checkpoint that restores; returns False when there is none.

    A damaged newest checkpoint (a truncated `.data` file, an empty `.index`) is reported in one
    line on stderr and the previous kept one is restored instead.

    Raises:
      RunFolderError: no kept checkpoint restores (damaged, or another configuration's).
    """
    candidates = list(reversed(self._manager.checkpoints))  # newest first
    self.restored_path = None
    if not candidates:
      return False
    reasons = []
    for path in candidates:
      reason = self._try_restore(path)
      if reason is None:
        self.restored_path = path
        return True
      reasons.append(reason)
      if path != candidates[-1]:
        print(f'Checkpoint {path} does not restore ({reason}); trying the previous one.',
              file=sys.stderr)
    raise RunFolderError(
        f'Could not restore the checkpoint {candidates[0]} ({reasons[0]})'
        f'{" nor any earlier one" if len(candidates) > 1 else ""}. It is damaged or was written '
        'with other networks or gin settings: resume with the original gin files, or use a new '
        '--root_dir.')

  def _try_restore(self, path: str) -> Optional[str]:
    """Restores `path` strictly; returns None, or why it failed (one line)."""
    try:
      self._checkpoint.restore(path).assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError) as error:
      return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return None

  def save(self, step: int) -> str:
    return self._manager.save(checkpoint_number=step)


def identity_bindings(config_text: str) -> Dict[str, str]:
  """'configurable.parameter' -> the value's text, for the bindings that identify a run."""
  bindings = {}
  parser = config_parser.ConfigParser(config_text, gin.config.ParserDelegate(skip_unknown=True))
  for statement in parser:
    if not isinstance(statement, config_parser.BindingStatement) or statement.scope:
      continue
    key = f'{statement.selector}.{statement.arg_name}'
    if ((statement.selector in IDENTITY_CONFIGURABLES or key in IDENTITY_PARAMETERS) and
        key not in MAY_CHANGE and statement.arg_name != 'name'):
      bindings[key] = _value_text(statement.value)
  return bindings


def _value_text(value) -> str:
  """A binding's value as gin writes it: '@Name' for configurable references."""
  selector = getattr(value, 'selector', None)
  if selector is not None:
    return '@' + selector + ('()' if getattr(value, 'evaluate', False) else '')
  return repr(value)
