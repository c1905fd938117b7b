r"""Environment steps per second of a distributed run with 1, 2, 4, ... collectors.

Runs `train/distributed/launch.py`'s launcher (replay server, K collectors, learner; no
evaluator, so the numbers count collection and learning only) once per K and per engine
(`local`: processes of this machine, `Launcher`; `ray`: Ray actors on a Ray instance the
launcher starts, `RayLauncher`), and reads the
learner's `[learner] summary` line: environment steps (the replay table's inserts) and train
steps per second, measured from the end of the learner's first train call (after tracing) to
its last; `startup_seconds` is the rest of the launcher's wall time (starting the roles,
tracing, stopping); `peak_rss_mb` is each role's peak resident memory (sampled every 0.5 s).
Two rate-limiter settings per K:

  ratio      the shipped limiter: samples_per_insert = train_eval.samples_per_insert, so
             collection can only run `error_buffer` ahead of learning (what training sees);
  unlimited  error_buffer = 1e9: collectors never wait for the learner (collection capacity).

  .venv/bin/python bench/distributed_throughput.py --num_collectors=1,2,4 --engines=local,ray \
      --output_json=bench/out/distributed_throughput.json

Defaults: gin/methods/aql.gin + gin/smoke.gin with train_eval.num_env_steps = 3_000.
Absolute numbers depend on the machine and on what else runs on it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import re
import shutil
import tempfile
import threading
import time

from absl import app
from absl import flags

from tf_aql.distributed.launcher import Launcher

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_list('num_collectors', ['1', '2', '4'], 'Collector counts to measure.')
flags.DEFINE_list('limiters', ['ratio', 'unlimited'], 'Rate-limiter settings to measure.')
flags.DEFINE_list('engines', ['local'], "Launchers to measure: 'local', 'ray'.")
flags.DEFINE_multi_string('gin_file', [os.path.join(REPO, 'gin', 'methods', 'aql.gin'),
                                       os.path.join(REPO, 'gin', 'smoke.gin')], 'Gin files.')
flags.DEFINE_multi_string('gin_bindings', ['train_eval.num_env_steps = 3_000',
                                           'train_eval.eval_interval = 1_000_000'],
                          'Gin bindings.')
flags.DEFINE_string('output_json', None, 'Where to write the results (optional).')
flags.DEFINE_float('timeout_s', 900, 'Give up on one run after this many seconds.')
FLAGS = flags.FLAGS

LIMITER_BINDINGS = {'ratio': [],
                    'unlimited': ['make_distributed_replay_table.error_buffer = 1e9']}


def make_launcher(engine: str, root_dir: str, num_collectors: int, limiter: str):
  args = (root_dir, num_collectors, FLAGS.gin_file, FLAGS.gin_bindings + LIMITER_BINDINGS[limiter])
  if engine == 'local':
    return Launcher(*args, with_evaluator=False, echo=lambda line: None)
  from tf_aql.distributed.ray_engine import RayLauncher  # pylint: disable=g-import-not-at-top
  return RayLauncher(*args, with_evaluator=False, echo=lambda line: None)


def role_pids(launcher) -> dict:
  """{role name: pid} of the roles running now."""
  if isinstance(launcher, Launcher):
    return {role.name: role.process.pid for role in launcher.roles if role.running}
  return {name: where['pid'] for name, where in dict(launcher.placement).items()}


class PeakRss(threading.Thread):
  """Samples the roles' resident memory every 0.5 s; `peak_mb` holds the maxima."""

  def __init__(self, launcher):
    super().__init__(daemon=True)
    self._launcher = launcher
    self.peak_mb = {}
    self.done = threading.Event()

  def run(self):
    import psutil  # pylint: disable=g-import-not-at-top
    while not self.done.wait(0.5):
      for name, pid in role_pids(self._launcher).items():
        try:
          rss = psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:
          continue
        self.peak_mb[name] = round(max(self.peak_mb.get(name, 0.0), rss))


def measure(engine: str, num_collectors: int, limiter: str) -> dict:
  root_dir = tempfile.mkdtemp(prefix=f'dist_{engine}_k{num_collectors}_{limiter}_')
  start = time.time()
  launcher = make_launcher(engine, root_dir, num_collectors, limiter)
  sampler = PeakRss(launcher)
  sampler.start()
  status = launcher.run()
  sampler.done.set()
  with open(os.path.join(root_dir, 'logs', 'learner.log'), errors='replace') as f:
    match = re.search(r'\[learner\] summary (\{.*\})', f.read())
  summary = json.loads(match.group(1)) if match else {}
  shutil.rmtree(root_dir, ignore_errors=True)
  seconds = time.time() - start
  return {'engine': engine, 'num_collectors': num_collectors, 'limiter': limiter,
          'exit_status': status, 'launcher_seconds': round(seconds, 1),
          'startup_seconds': round(seconds - summary.get('session_seconds', 0.0), 1),
          'peak_rss_mb': sampler.peak_mb, **summary}


def main(argv):
  del argv
  results = []
  for limiter in FLAGS.limiters:
    for k in FLAGS.num_collectors:
      for engine in FLAGS.engines:  # engines side by side for each setting
        row = measure(engine, int(k), limiter)
        print(json.dumps(row), flush=True)
        if row['exit_status'] != 0:
          sys.exit(f'The {engine} run with {k} collectors ended with status '
                   f'{row["exit_status"]}; stopping.')
        results.append(row)
  print(f'{"engine":>7} {"collectors":>10} {"limiter":>10} {"env steps/s":>12} '
        f'{"train steps/s":>14} {"start-up s":>10}')
  for row in results:
    print(f'{row["engine"]:>7} {row["num_collectors"]:>10} {row["limiter"]:>10} '
          f'{row.get("env_steps_per_sec", float("nan")):>12.1f} '
          f'{row.get("train_steps_per_sec", float("nan")):>14.1f} '
          f'{row["startup_seconds"]:>10.1f}')
  if FLAGS.output_json:
    with open(FLAGS.output_json, 'w') as f:
      json.dump({'cores': os.cpu_count(), 'load_average_at_end': os.getloadavg(),
                 'gin_files': FLAGS.gin_file, 'gin_bindings': FLAGS.gin_bindings,
                 'results': results}, f, indent=1)


if __name__ == '__main__':
  app.run(main)
