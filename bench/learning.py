r"""Learning curves side by side: several methods x seeds at equal environment-step budgets.

Each run is `train/train_eval.py` in a subprocess (the same command a user runs), into
`<out_dir>/<suite>/<method>_seed<k>`; runs that already finished are skipped, so the script
can be stopped and started again. At the end it prints a markdown table of final returns
(mean ± std over seeds, and the best evaluation), wall time, and draws the curves with
train/plot.py.

  python bench/learning.py --suite=chain_1e10 --seeds=0,1,2 --num_env_steps=20000
  python bench/learning.py --suite=pendulum --methods=aql,uniform_ql,qt_opt,ddpg,sac --seeds=0
  python bench/learning.py --suite=chain_1e5 --methods=aql,aql+cdq \
      --variant='cdq=AqlAgent.clipped_double_q = True'   # an ablation: aql with one change

Suites (method defaults in brackets): chain_1e5, chain_1e5_gamma099, chain_1e10, chain_1e20
[aql, uniform_ql, qt_opt; exhaustive_dqn on chain_1e5], halfcheetah_discretized and
humanoid_discretized [aql, uniform_ql, qt_opt],
pendulum_discretized [exhaustive_dqn, aql, uniform_ql], pendulum, lunar_lander_continuous,
halfcheetah [aql, qt_opt, ddpg, sac], hybrid_small and hybrid_1e7 (Dict actions) [aql, uniform_ql,
qt_opt].
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SUITES: Dict[str, Sequence[str]] = {
    'chain_1e5': ('aql', 'uniform_ql', 'qt_opt', 'exhaustive_dqn'),
    'chain_1e5_gamma099': ('aql', 'uniform_ql', 'qt_opt'),
    'chain_1e10': ('aql', 'uniform_ql', 'qt_opt'),
    'chain_1e20': ('aql', 'uniform_ql', 'qt_opt'),
    'halfcheetah_discretized': ('aql', 'uniform_ql', 'qt_opt'),
    'humanoid_discretized': ('aql', 'uniform_ql', 'qt_opt'),
    'pendulum': ('aql', 'qt_opt', 'ddpg', 'sac'),
    'pendulum_discretized': ('exhaustive_dqn', 'aql', 'uniform_ql'),
    'lunar_lander_continuous': ('aql', 'qt_opt', 'ddpg', 'sac'),
    'halfcheetah': ('aql', 'qt_opt', 'ddpg', 'sac'),
    'hybrid_small': ('aql', 'uniform_ql', 'qt_opt'),
    'hybrid_1e7': ('aql', 'uniform_ql', 'qt_opt'),
}

flags.DEFINE_string('suite', 'chain_1e10', f'One of {sorted(SUITES)}.')
flags.DEFINE_list('methods', [], 'Method gin names (gin/methods/*.gin); default: the suite\'s.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds; one run per method and seed.')
flags.DEFINE_integer('num_env_steps', None, 'Environment steps per run (default: the env file).')
flags.DEFINE_integer('eval_interval', None, 'Environment steps between evaluations.')
flags.DEFINE_multi_string('gin_bindings', [], 'Extra bindings applied to every run.')
flags.DEFINE_multi_string(
    'variant', [], "Ablations side by side: 'NAME=BINDING[;BINDING...]' defines a variant; "
    "list it in --methods as METHOD+NAME to run METHOD with these extra bindings, into "
    "<out_dir>/<suite>/METHOD+NAME_seed<k> (repeatable).")
flags.DEFINE_string('out_dir', os.path.join(REPO, 'bench', 'out', 'learning'), 'Run folders.')
flags.DEFINE_string('output_md', None, 'Also write the table to this markdown file.')
flags.DEFINE_multi_string(
    'reference', [], "Extra reference lines for the figure, 'LABEL=VALUE' (train/plot.py "
    "--reference); the random policy's return is always drawn.")
flags.DEFINE_string('figure', None, 'PNG of the curves (default: <out_dir>/<suite>.png).')
flags.DEFINE_string(
    'extend_from', None, 'An earlier --out_dir: a run missing here whose run of the same suite, '
    'method and seed finished there starts as a copy of it (checkpoints and replay included) '
    'and resumes to --num_env_steps, so a longer budget continues a shorter one.')
flags.DEFINE_bool('report_only', False, 'Run nothing: tabulate and plot the finished runs.')
flags.DEFINE_list('report_steps', [], 'Also tabulate the return (mean ± std over seeds) at '
                  'these environment steps, read from the evaluations of every run.')
FLAGS = flags.FLAGS


def variants() -> Dict[str, List[str]]:
  """--variant parsed: name -> its extra bindings; '' is the unchanged method."""
  parsed = {'': []}
  for spec in FLAGS.variant:
    name, sep, bindings = spec.partition('=')
    if not sep or not name.strip() or not bindings.strip():
      raise app.UsageError(f"--variant={spec!r}: expected 'NAME=BINDING[;BINDING...]'.")
    parsed[name.strip()] = [b.strip() for b in bindings.split(';') if b.strip()]
  return parsed


def split_run(run: str):
  """'aql+cdq' -> ('aql', extra bindings of variant 'cdq'); 'aql' -> ('aql', [])."""
  method, _, name = run.partition('+')
  if name not in variants():
    raise app.UsageError(f'--methods={run}: no --variant named {name!r}.')
  return method, variants()[name]


def run_dir(run: str, seed: str) -> str:
  return os.path.join(FLAGS.out_dir, FLAGS.suite, f'{run}_seed{seed}')


def command(run: str, seed: str) -> List[str]:
  """The train_eval command line of one run ('METHOD' or 'METHOD+VARIANT')."""
  method, variant_bindings = split_run(run)
  bindings = [f'train_eval.seed = {seed}', 'train_eval.show_progress = False']
  if FLAGS.num_env_steps:
    bindings.append(f'train_eval.num_env_steps = {FLAGS.num_env_steps}')
  if FLAGS.eval_interval:
    bindings.append(f'train_eval.eval_interval = {FLAGS.eval_interval}')
  bindings += FLAGS.gin_bindings + variant_bindings
  return ([sys.executable, os.path.join(REPO, 'train', 'train_eval.py'),
           f'--root_dir={run_dir(run, seed)}',
           f'--gin_file={os.path.join(REPO, "gin", "methods", method + ".gin")}',
           f'--gin_file={os.path.join(REPO, "gin", "envs", FLAGS.suite + ".gin")}'] +
          [f'--gin_bindings={b}' for b in bindings])


def read_rows(path: str) -> List[Dict]:
  metrics = os.path.join(path, 'eval_metrics.jsonl')
  if not os.path.exists(metrics):
    return []
  with open(metrics) as f:
    return [json.loads(line) for line in f if line.strip()]


def finished(path: str) -> bool:
  return os.path.exists(os.path.join(path, 'done'))


def extend_run(method: str, seed: str, path: str) -> None:
  """Copies the finished run of --extend_from into `path` (without its 'done' mark) when
  `path` does not exist yet; train_eval then resumes it from its last checkpoint."""
  if not FLAGS.extend_from or os.path.exists(path):
    return
  source = os.path.join(FLAGS.extend_from, FLAGS.suite, f'{method}_seed{seed}')
  if finished(source):
    shutil.copytree(source, path, ignore=shutil.ignore_patterns('done'))
    print(f'[extend] {method} seed {seed}: continuing {source}', flush=True)


def run_one(method: str, seed: str) -> None:
  path = run_dir(method, seed)
  if finished(path):
    print(f'[skip] {method} seed {seed}: already finished', flush=True)
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  extend_run(method, seed, path)
  start = time.time()
  print(f'[run] {method} seed {seed} -> {path}', flush=True)
  with open(path + '.log', 'w') as log:
    result = subprocess.run(command(method, seed), stdout=log, stderr=subprocess.STDOUT,
                            cwd=REPO)
  if result.returncode != 0:
    print(f'[fail] {method} seed {seed}: exit {result.returncode}; see {path}.log', flush=True)
    return
  with open(os.path.join(path, 'done'), 'w') as f:
    f.write(f'{time.time() - start:.1f}\n')
  rows = read_rows(path)
  print(f'[done] {method} seed {seed}: return {rows[-1]["average_return"]:.3f} at '
        f'{rows[-1]["env_steps"]} env steps, {time.time() - start:.0f} s', flush=True)


def return_at(rows: List[Dict], env_steps: int) -> Optional[float]:
  """The evaluation return at exactly `env_steps`, or None if the run has no such row."""
  return next((r['average_return'] for r in rows if r['env_steps'] == env_steps), None)


def mean_std(values: Sequence[float]) -> str:
  import numpy as np  # pylint: disable=g-import-not-at-top
  return f'{np.mean(values):.3f} ± {np.std(values):.3f}'


def summary_table(methods: Sequence[str], seeds: Sequence[str], random_return: float,
                  report_steps: Sequence[int] = ()) -> str:
  """Markdown table per method: the return at `report_steps` and at the end (mean ± std over
  the finished seeds; std is the population std), best evaluation, env steps, wall time; and a
  last row with the random policy's return."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  at_columns = ''.join(f' return at {n} |' for n in report_steps)
  no_at_cells = ' - |' * len(report_steps)
  lines = [f'| method | seeds |{at_columns} env steps | final return (mean ± std) | '
           'best eval (mean) | wall time per run (s) |',
           '|---|---|' + '---|' * len(report_steps) + '---|---|---|---|']
  for method in methods:
    runs = [read_rows(run_dir(method, s)) for s in seeds if finished(run_dir(method, s))]
    if not runs:
      lines.append(f'| {method} | 0 |{no_at_cells} - | not run | - | - |')
      continue
    at_cells = ''
    for n in report_steps:
      values = [v for v in (return_at(r, n) for r in runs) if v is not None]
      at_cells += f' {mean_std(values)} |' if len(values) == len(runs) else ' - |'
    final = [r[-1]['average_return'] for r in runs]
    best = np.array([max(x['average_return'] for x in r) for r in runs])
    wall = np.array([r[-1]['wall_time_s'] for r in runs])
    lines.append(f'| {method} | {len(runs)} |{at_cells} {runs[0][-1]["env_steps"]} | '
                 f'{mean_std(final)} | {best.mean():.3f} | {wall.mean():.0f} |')
  lines.append(f'| random policy | - |{no_at_cells} - | {random_return:.3f} (10 episodes) | - '
               '| - |')
  return '\n'.join(lines)


def random_policy_return(num_episodes: int = 10) -> float:
  """Average return of uniformly random actions on the suite's environment (seed 0)."""
  sys.path.insert(0, REPO)
  import gin  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tf_agents.policies import random_py_policy  # pylint: disable=g-import-not-at-top
  from tf_aql import cli  # pylint: disable=g-import-not-at-top
  from tf_aql.environments import suite_gymnasium  # pylint: disable=g-import-not-at-top
  cli.parse_gin([os.path.join(REPO, 'gin', 'methods', 'aql.gin'),
                 os.path.join(REPO, 'gin', 'envs', FLAGS.suite + '.gin')], [])
  env = suite_gymnasium.load(gin.query_parameter('train_eval.env_name'), seed=0)
  policy = random_py_policy.RandomPyPolicy(env.time_step_spec(), env.action_spec(), seed=0)
  returns = []
  for _ in range(num_episodes):
    time_step, total = env.reset(), 0.0
    while not time_step.is_last():
      time_step = env.step(policy.action(time_step).action)
      total += float(time_step.reward)
    returns.append(total)
  return float(np.mean(returns))


def _exit_on_sigterm(signum, frame) -> None:
  """Turns `kill` into SystemExit, so subprocess.run stops the running train_eval.py too
  (otherwise it keeps running, and a restarted suite would run a second one in the same folder)."""
  del frame
  sys.exit(128 + signum)


def main(argv):
  del argv
  signal.signal(signal.SIGTERM, _exit_on_sigterm)
  if FLAGS.suite not in SUITES:
    raise app.UsageError(f'Unknown suite {FLAGS.suite}; choose one of {sorted(SUITES)}.')
  methods = FLAGS.methods or list(SUITES[FLAGS.suite])
  for method in methods:
    split_run(method)  # unknown variants fail before anything runs
  for seed in [] if FLAGS.report_only else FLAGS.seeds:  # seed-major: first seeds early
    for method in methods:
      run_one(method, seed)
  random_return = random_policy_return()
  table = summary_table(methods, FLAGS.seeds, random_return,
                        [int(n) for n in FLAGS.report_steps])
  print(table)
  if FLAGS.output_md:
    with open(FLAGS.output_md, 'w') as f:
      f.write(table + '\n')
  dirs = [run_dir(m, s) for m in methods for s in FLAGS.seeds if finished(run_dir(m, s))]
  if dirs:
    figure = FLAGS.figure or os.path.join(FLAGS.out_dir, f'{FLAGS.suite}.png')
    subprocess.run([sys.executable, os.path.join(REPO, 'train', 'plot.py'),
                    f'--run_dirs={",".join(dirs)}', f'--output={figure}',
                    f'--title={FLAGS.suite}', f'--reference=random policy={random_return:.3f}'] +
                   [f'--reference={r}' for r in FLAGS.reference], check=False)


if __name__ == '__main__':
  app.run(main)
