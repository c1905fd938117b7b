r"""Replay server role: a Reverb server with the replay table and the policy-weights table.

  python train/distributed/replay_server.py --root_dir=runs/d3pg --port=8000 \
      --gin_file=gin/methods/aql.gin --gin_file=gin/envs/chain_1e10.gin

Checkpoints go to <root_dir>/replay (when the learner checkpoints); a restarted server restores
them. Stops on SIGTERM or Ctrl-C. See docs/DISTRIBUTED.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

from tf_aql import cli

flags.DEFINE_string('root_dir', None, 'Run folder; replay checkpoints go to <root_dir>/replay.')
flags.DEFINE_integer('port', None, 'Port to serve on.')
cli.define_gin_flags()
flags.mark_flags_as_required(['root_dir', 'port'])
FLAGS = flags.FLAGS


def main(argv):
  del argv

  def command():
    from tf_aql.distributed.replay_server import run_replay_server  # pylint: disable=g-import-not-at-top
    run_replay_server(FLAGS.root_dir, FLAGS.port)

  cli.run_with_gin(command)


if __name__ == '__main__':
  app.run(main)
