"""What the entry points share: quiet logs, strict gin parsing, one-line user errors."""

import os
import sys
from typing import Callable, Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # TF's C++ start-up noise

from absl import logging  # pylint: disable=g-import-not-at-top
import gin

from tf_aql.errors import TfAqlError


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GinConfigError(TfAqlError):
  """A gin file or binding is unknown, misspelled or malformed."""


def register_configurables() -> None:
  """Imports every module that defines gin configurables, so gin files can name them."""
  # pylint: disable=g-import-not-at-top,unused-import
  import tf_aql.builders
  import tf_aql.agents
  import tf_aql.environments
  import tf_aql.search
  import tf_aql.train_loop
  import tf_aql.distributed.collector
  import tf_aql.distributed.evaluator
  import tf_aql.distributed.learner
  import tf_aql.distributed.replay_server


def quiet_logs() -> None:
  """Keeps the console for progress and errors: TF and TF-Agents warnings go to ERROR."""
  import warnings  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.ERROR)
  tf.get_logger().setLevel('ERROR')
  warnings.filterwarnings('ignore', category=DeprecationWarning)


def parse_gin(gin_files: Sequence[str], gin_bindings: Sequence[str]) -> None:
  """Parses gin strictly: an unknown configurable or parameter is an error naming it."""
  quiet_logs()
  register_configurables()
  gin.add_config_file_search_path(REPO_ROOT)  # so `include 'gin/base.gin'` works from anywhere
  for path in gin_files:
    if not os.path.exists(path):
      raise GinConfigError(f'Gin file {path} does not exist (paths are relative to the current '
                           'directory; the shipped ones are under gin/).')
  try:
    gin.parse_config_files_and_bindings(gin_files, gin_bindings, skip_unknown=False,
                                        finalize_config=False)
  except (ValueError, SyntaxError, KeyError, ImportError) as error:
    message = ' '.join(str(error).split())
    raise GinConfigError(f'Bad gin configuration: {message}. Check the spelling against '
                         'docs/CONFIG.md or gin/base.gin.') from None


def train_eval_from_gin(root_dir: str, gin_files: Sequence[str],
                        gin_bindings: Sequence[str]) -> None:
  parse_gin(gin_files, gin_bindings)
  from tf_aql.train_loop import train_eval  # pylint: disable=g-import-not-at-top
  row = train_eval(root_dir)
  print(f'Done: {row.get("env_steps")} env steps, average_return={row.get("average_return")}; '
        f'run folder {os.path.abspath(root_dir)}')


def define_gin_flags() -> None:
  """Defines --gin_file and --gin_bindings, the flags every entry point shares."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.disclaim_key_flags()  # Flags defined here belong to the entry point (its --helpshort).
  flags.DEFINE_multi_string('gin_file', [], 'Gin files, applied in order (repeatable).')
  flags.DEFINE_multi_string('gin_bindings', [], "Gin bindings, e.g. 'train_eval.seed = 1'.")


def define_role_flags(root_dir_help: str) -> None:
  """Defines the flags of a distributed role that talks to the replay server: --root_dir,
  --replay_server_address (both required) and the gin flags."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.disclaim_key_flags()
  flags.DEFINE_string('root_dir', None, root_dir_help)
  flags.DEFINE_string('replay_server_address', None, "The replay server's host:port.")
  define_gin_flags()
  flags.mark_flags_as_required(['root_dir', 'replay_server_address'])


def run_with_gin(command: Callable[[], None]) -> None:
  """Parses --gin_file/--gin_bindings strictly, then runs `command` (see run_user_command)."""
  from absl import flags  # pylint: disable=g-import-not-at-top

  def parse_then_run():
    parse_gin(flags.FLAGS.gin_file, flags.FLAGS.gin_bindings)
    command()

  run_user_command(parse_then_run)


def run_user_command(command: Callable[[], None]) -> None:
  """Runs `command`; a `TfAqlError` prints one line to stderr and exits with status 2."""
  try:
    command()
  except TfAqlError as error:
    print(f'error: {error.user_message}', file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print('Interrupted; run the same command again to resume from the last checkpoint.',
          file=sys.stderr)
    sys.exit(130)
