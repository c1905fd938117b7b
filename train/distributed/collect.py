r"""Collector role: acts with the learner's latest weights and writes experience to the server.

  python train/distributed/collect.py --root_dir=runs/d3pg --task_id=0 \
      --replay_server_address=replay-host:8000 \
      --gin_file=gin/methods/aql.gin --gin_file=gin/envs/chain_1e10.gin

Runs until stopped (SIGTERM or Ctrl-C). See docs/DISTRIBUTED.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

from tf_aql import cli

cli.define_role_flags('Run folder: collector rows and summaries.')
flags.DEFINE_integer('task_id', 0, "This collector's index (seed, file names).")
FLAGS = flags.FLAGS


def main(argv):
  del argv

  def command():
    from tf_aql.distributed.collector import run_collector  # pylint: disable=g-import-not-at-top
    run_collector(FLAGS.root_dir, FLAGS.replay_server_address, FLAGS.task_id)

  cli.run_with_gin(command)


if __name__ == '__main__':
  app.run(main)
