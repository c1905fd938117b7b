r"""Starts a distributed run: replay server, K collectors, learner, evaluator.

  python train/distributed/launch.py --root_dir=runs/aql_dist --num_collectors=2 \
      --gin_file=gin/methods/aql.gin --gin_file=gin/envs/chain_1e10.gin \
      [--gin_bindings='train_eval.num_env_steps = 50_000'] \
      [--engine=ray [--ray_address=auto|HOST:PORT] [--collector_resources='{"CPU": 1}']]

--engine=local (default) starts the roles as processes of this machine; --engine=ray starts them
as Ray actors, on a local Ray instance or, with --ray_address, on an existing Ray cluster.
Each role's output goes to <root_dir>/logs/<role>.log; the learner's progress is shown here.
Ctrl-C stops every role (the learner checkpoints first); running the same command again
resumes. The exit status is the learner's. See docs/DISTRIBUTED.md.
"""

import json
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
flags.DEFINE_enum('engine', 'local', ['local', 'ray'],
                  'local: processes of this machine; ray: Ray actors (one machine or a cluster).')
flags.DEFINE_string('ray_address', None, "--engine=ray: an existing cluster ('auto' or "
                    "HOST:PORT of its head); default: a Ray instance of this machine.")
flags.DEFINE_string('learner_resources', '{"CPU": 1}',
                    '--engine=ray: Ray resources of the learner (JSON); the replay server and '
                    'the evaluator go to its node.')
flags.DEFINE_string('collector_resources', '{"CPU": 1}',
                    '--engine=ray: Ray resources of each collector (JSON), e.g. '
                    '\'{"CPU": 1, "actor_node": 1}\' for nodes started with that custom resource.')
flags.DEFINE_integer('max_server_restarts', 3,
                     '--engine=ray: restarts of a dead replay server (from its checkpoint).',
                     lower_bound=0)
flags.mark_flag_as_required('root_dir')
FLAGS = flags.FLAGS


def _resources(flag: str) -> dict:
  try:
    value = json.loads(getattr(FLAGS, flag))
    if isinstance(value, dict) and all(isinstance(v, (int, float)) for v in value.values()):
      return value
  except json.JSONDecodeError:
    pass
  print(f'error: --{flag} must be a JSON object of resource amounts such as \'{{"CPU": 1}}\', '
        f'not {getattr(FLAGS, flag)!r}.', file=sys.stderr)
  sys.exit(2)


def main(argv):
  del argv
  if FLAGS.engine == 'local':
    launcher = Launcher(FLAGS.root_dir, FLAGS.num_collectors, FLAGS.gin_file, FLAGS.gin_bindings,
                        num_train_steps=FLAGS.num_train_steps, with_evaluator=FLAGS.evaluator,
                        port=FLAGS.port, max_collector_restarts=FLAGS.max_collector_restarts)
  else:
    from tf_aql.distributed.ray_engine import RayLauncher  # pylint: disable=g-import-not-at-top
    launcher = RayLauncher(FLAGS.root_dir, FLAGS.num_collectors, FLAGS.gin_file,
                           FLAGS.gin_bindings, num_train_steps=FLAGS.num_train_steps,
                           with_evaluator=FLAGS.evaluator, ray_address=FLAGS.ray_address,
                           learner_resources=_resources('learner_resources'),
                           collector_resources=_resources('collector_resources'),
                           max_collector_restarts=FLAGS.max_collector_restarts,
                           max_server_restarts=FLAGS.max_server_restarts)
  sys.exit(launcher.run())


if __name__ == '__main__':
  app.run(main)
