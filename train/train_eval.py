r"""Trains and evaluates a tf_aql agent in one process, with an embedded Reverb replay.

  python train/train_eval.py --root_dir=runs/aql_chain \
      --gin_file=gin/methods/aql.gin --gin_file=gin/envs/chain_1e10.gin \
      [--gin_bindings='train_eval.num_env_steps = 50_000']

Running the same command on an existing --root_dir resumes that run.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

from tf_aql import cli

flags.DEFINE_string('root_dir', None, 'Run folder: checkpoints, policies, metrics, summaries.')
cli.define_gin_flags()
flags.mark_flag_as_required('root_dir')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  cli.run_user_command(lambda: cli.train_eval_from_gin(FLAGS.root_dir, FLAGS.gin_file,
                                                       FLAGS.gin_bindings))


if __name__ == '__main__':
  app.run(main)
