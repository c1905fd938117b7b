r"""Evaluator role: greedy episodes with the learner's latest weights, into eval_metrics.jsonl.

  python train/distributed/evaluate_role.py --root_dir=runs/d3pg \
      --replay_server_address=replay-host:8000 \
      --gin_file=gin/methods/aql.gin --gin_file=gin/envs/chain_1e10.gin

Evaluates every train_eval.eval_interval environment steps and exits after the learner's final
weights. (train/evaluate.py, by contrast, evaluates an exported policy once.)
See docs/DISTRIBUTED.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

from tf_aql import cli

cli.define_role_flags('Run folder: eval_metrics.jsonl and eval/ summaries.')
FLAGS = flags.FLAGS


def main(argv):
  del argv

  def command():
    from tf_aql.distributed.evaluator import run_evaluator  # pylint: disable=g-import-not-at-top
    run_evaluator(FLAGS.root_dir, FLAGS.replay_server_address)

  cli.run_with_gin(command)


if __name__ == '__main__':
  app.run(main)
