r"""Learner role: trains from the replay server, publishes weights, checkpoints, exports.

  python train/distributed/learn.py --root_dir=runs/d3pg \
      --replay_server_address=replay-host:8000 \
      --gin_file=gin/methods/aql.gin --gin_file=gin/envs/chain_1e10.gin \
      [--num_train_steps=N]

Stops at --num_train_steps, by default the train steps train_eval runs for
train_eval.num_env_steps: (num_env_steps - initial_collect_steps) * samples_per_insert /
batch_size; for IMPALA, num_env_steps // (unroll_length * batch_size), a batch of unrolls per
step. Running it again on the same --root_dir resumes from the last checkpoint.
See docs/DISTRIBUTED.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

from tf_aql import cli

cli.define_role_flags('Run folder: checkpoints, policies, summaries.')
flags.DEFINE_integer('num_train_steps', None,
                     'Stop at this train step (default: the equivalent of '
                     'train_eval.num_env_steps).')
FLAGS = flags.FLAGS


def main(argv):
  del argv

  def command():
    from tf_aql.distributed.learner import run_learner  # pylint: disable=g-import-not-at-top
    run_learner(FLAGS.root_dir, FLAGS.replay_server_address,
                num_train_steps=FLAGS.num_train_steps)

  cli.run_with_gin(command)


if __name__ == '__main__':
  app.run(main)
