r"""Starts a distributed run on this machine: replay server, K collectors, learner, evaluator.

  python train/distributed/launch.py --root_dir=runs/aql_dist --num_collectors=2 \
      --gin_file=gin/methods/aql.gin --gin_file=gin/envs/chain_1e10.gin \
      [--gin_bindings='train_eval.num_env_steps = 50_000']

Each role's output goes to <root_dir>/logs/<role>.log; the learner's progress is shown here.
Ctrl-C stops every role (the learner checkpoints first); running the same command again
resumes. The exit status is the learner's. See docs/DISTRIBUTED.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

from tf_aql import cli
from tf_aql.distributed.launcher import Launcher

flags.DEFINE_string('root_dir', None, 'Run folder shared by every role; logs in <root_dir>/logs.')
flags.DEFINE_integer('num_collectors', 2, 'Collector processes.', lower_bound=1)
cli.define_gin_flags()
flags.DEFINE_integer('num_train_steps', None, "Passed to the learner (default: its own).")
flags.DEFINE_bool('evaluator', True, 'Start the evaluator role.')
flags.DEFINE_integer('port', None, 'Replay server port (default: a free one).')
flags.DEFINE_integer('max_collector_restarts', 3, 'Restarts of each crashed collector.',
                     lower_bound=0)
flags.mark_flag_as_required('root_dir')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  launcher = Launcher(FLAGS.root_dir, FLAGS.num_collectors, FLAGS.gin_file, FLAGS.gin_bindings,
                      num_train_steps=FLAGS.num_train_steps, with_evaluator=FLAGS.evaluator,
                      port=FLAGS.port, max_collector_restarts=FLAGS.max_collector_restarts)
  sys.exit(launcher.run())


if __name__ == '__main__':
  app.run(main)
