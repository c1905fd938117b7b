r"""Plots average evaluation return against environment steps for one or more runs.

    python train/plot.py --run_dirs=runs/aql_seed0,runs/aql_seed1,runs/dqn_seed0,runs/dqn_seed1 \
        [--labels=AQL,DQN] [--nogroup_by_seed_suffix] --output=curves.png [--title=Pendulum-v1] \
        [--reference='random policy=1.0' --reference='optimal=10']

Each run folder holds `eval_metrics.jsonl` (one JSON object per evaluation, written by
train_eval); the curve of a run is its `average_return` against its `env_steps`.

Grouping seeds (the one scheme): run folders whose paths differ only by a trailing seed suffix on
the last component -- `_seedN`, `-seedN` or `seedN`, e.g. `runs/aql_seed0` and `runs/aql_seed1`,
or `runs/aql/seed0` and `runs/aql/seed1` -- are seeds of one configuration and form one group.
`--nogroup_by_seed_suffix` draws every run on its own. A group of several runs is drawn as the
mean over its seeds with a shaded min-max band: each run's curve is linearly interpolated onto
the union of the group's evaluation steps within the range every seed reached (from the latest
first evaluation to the earliest last one), so the mean is never extrapolated. A group of one
run is drawn as its raw curve. Legends read `<label> (n=<seeds>)`.

Labels: by default the group's path with the seed suffix removed, last component only (its
parent's name when nothing is left, as for `runs/aql/seed0`). `--labels` replaces them, one per
group in the order the groups first appear in `--run_dirs`.

References: each `--reference='LABEL=VALUE'` draws a gray horizontal line (dashed, dotted,
dash-dotted, in turn) at return VALUE (e.g. a random policy's return, a ceiling or the
optimum), labelled in the legend.
"""

import collections
import json
import os
import re
import sys
from typing import Dict, List, Sequence, Tuple

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
  sys.path.insert(0, _REPO_ROOT)  # The package is not installed: run from a checkout.

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
import matplotlib
matplotlib.use('Agg')
from matplotlib import figure  # pylint: disable=g-import-not-at-top
from matplotlib import ticker
import numpy as np

from tf_aql import cli
from tf_aql.errors import TfAqlError

_RUN_DIRS = flags.DEFINE_list(
    'run_dirs', None, 'Comma-separated run folders, each holding eval_metrics.jsonl.')
_LABELS = flags.DEFINE_list(
    'labels', None, 'Comma-separated legend labels, one per group in order of first appearance.')
_GROUP_BY_SEED_SUFFIX = flags.DEFINE_boolean(
    'group_by_seed_suffix', True,
    'Group run folders whose names differ only by a trailing _seedN / -seedN / seedN suffix '
    'into one mean curve with a min-max band; --nogroup_by_seed_suffix draws each run alone.')
_OUTPUT = flags.DEFINE_string('output', None, 'Path of the PNG to write.')
_TITLE = flags.DEFINE_string('title', '', 'Figure title.')
_REFERENCES = flags.DEFINE_multi_string(
    'reference', [], "Horizontal reference line 'LABEL=VALUE' (repeatable), e.g. 'random=1.0'.")

EVAL_METRICS_FILE = 'eval_metrics.jsonl'
FIGURE_SIZE_INCHES = (8.0, 5.0)  # width, height
DPI = 100
REFERENCE_STYLES = ('--', ':', '-.')  # line styles of successive reference lines
_SEED_SUFFIX = re.compile(r'[_-]?seed\d+$')


class PlotError(TfAqlError, ValueError):
  """The runs cannot be plotted (missing or empty eval_metrics.jsonl, bad flags)."""


def load_eval_metrics(run_dir: str) -> List[dict]:
  """The evaluation rows of a run, in file order.

  A last line that is not valid JSON (a run killed while appending it) is skipped with a
  warning; any other malformed line is an error.

  Returns:
    One dict per evaluation, each with at least `env_steps` and `average_return`.

  Raises:
    PlotError: the file is missing, has a malformed line or a row without `env_steps` or
      `average_return`, or has no rows.
  """
  path = os.path.join(run_dir, EVAL_METRICS_FILE)
  if not os.path.isfile(path):
    raise PlotError(f'No {EVAL_METRICS_FILE} in {run_dir}: expected a run folder written by '
                    'train_eval (it appends a row after every evaluation).')
  with open(path) as f:
    lines = [(number, line) for number, line in enumerate(f, start=1) if line.strip()]
  rows = []
  for index, (number, line) in enumerate(lines):
    try:
      row = json.loads(line)
    except json.JSONDecodeError as error:
      if index == len(lines) - 1:
        logging.warning('Skipping the incomplete last line %d of %s.', number, path)
        continue
      raise PlotError(f'{path} line {number} is not valid JSON ({error}).') from None
    missing = [k for k in ('env_steps', 'average_return')
               if not isinstance(row, dict) or k not in row]
    if missing:
      raise PlotError(f'{path} line {number} has no {" or ".join(missing)}.')
    rows.append(row)
  if not rows:
    raise PlotError(f'{path} has no evaluation rows yet: wait for the first evaluation.')
  return rows


def return_curve(rows: Sequence[dict]) -> Tuple[np.ndarray, np.ndarray]:
  """`(env_steps [T], average_return [T])` sorted by step, the last row kept for a repeated step."""
  by_step = {int(row['env_steps']): float(row['average_return']) for row in rows}
  steps = np.array(sorted(by_step), dtype=np.float64)
  return steps, np.array([by_step[s] for s in sorted(by_step)], dtype=np.float64)


def group_by_seed_suffix(run_dirs: Sequence[str]) -> Dict[str, List[str]]:
  """Groups run folders whose last path component differs only by a trailing seed suffix.

  Args:
    run_dirs: run folder paths.

  Returns:
    An ordered dict label -> run folders, groups in order of first appearance. The label is
    the last component without its `_seedN` / `-seedN` / `seedN` suffix (the parent's name
    when that leaves nothing); labels shared by different groups become their full paths.
  """
  keyed: Dict[str, List[str]] = collections.OrderedDict()
  for run_dir in run_dirs:
    parent, name = os.path.split(os.path.normpath(run_dir))
    keyed.setdefault(os.path.join(parent, _SEED_SUFFIX.sub('', name)), []).append(run_dir)
  labels = [_label_of(key) for key in keyed]
  return collections.OrderedDict(
      (key if labels.count(label) > 1 else label, members)
      for label, (key, members) in zip(labels, keyed.items()))


def _label_of(key: str) -> str:
  parent, name = os.path.split(key)
  return name or os.path.basename(parent) or key


def make_groups(run_dirs: Sequence[str], labels: Sequence[str] = (),
                group_seeds: bool = True) -> Dict[str, List[str]]:
  """The groups `plot_runs` draws, as the command line describes them.

  Args:
    run_dirs: run folder paths.
    labels: optional legend labels, one per group in order of first appearance.
    group_seeds: group by seed suffix (see `group_by_seed_suffix`), else one group per run
      labelled by its folder name.

  Raises:
    PlotError: no run folders, a folder given twice, repeated labels, or a number of labels
      that is not the number of groups.
  """
  if not run_dirs:
    raise PlotError('No run folders given: pass --run_dirs=DIR1,DIR2,...')
  normalized = [os.path.normpath(d) for d in run_dirs]
  repeated = sorted({d for d in normalized if normalized.count(d) > 1})
  if repeated:
    raise PlotError(f'Run folder given more than once: {", ".join(repeated)}.')
  if group_seeds:
    groups = group_by_seed_suffix(run_dirs)
  else:
    groups = collections.OrderedDict((_unique_name(d, run_dirs), [d]) for d in run_dirs)
  if labels:
    if len(set(labels)) != len(labels):
      raise PlotError(f'--labels has repeated labels: {",".join(labels)}.')
    if len(labels) != len(groups):
      raise PlotError(
          f'{len(labels)} labels for {len(groups)} groups ({"; ".join(groups)}): pass one label '
          'per group, in order of first appearance.')
    groups = collections.OrderedDict(zip(labels, groups.values()))
  return groups


def _unique_name(run_dir: str, run_dirs: Sequence[str]) -> str:
  """The folder's name, or its path when another folder has the same name."""
  names = [os.path.basename(os.path.normpath(d)) for d in run_dirs]
  name = os.path.basename(os.path.normpath(run_dir))
  return name if names.count(name) == 1 else run_dir


def aggregate_curves(
    curves: Sequence[Tuple[np.ndarray, np.ndarray]]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Mean, min and max of several return curves on a common env-step grid.

  Args:
    curves: `(env_steps [T_i], returns [T_i])` per seed, steps increasing.

  Returns:
    `(grid [G], mean [G], low [G], high [G])`: the grid is the union of all evaluation steps
    within [max_i first step, min_i last step]; every curve is linearly interpolated onto it.

  Raises:
    PlotError: the runs' step ranges do not overlap.
  """
  start = max(steps[0] for steps, _ in curves)
  stop = min(steps[-1] for steps, _ in curves)
  if start > stop:
    raise PlotError(f'The seeds\' evaluations do not overlap in env steps ({start:.0f} > '
                    f'{stop:.0f}): plot them with --nogroup_by_seed_suffix.')
  grid = np.unique(np.concatenate([steps for steps, _ in curves]))
  grid = grid[(grid >= start) & (grid <= stop)]
  values = np.stack([np.interp(grid, steps, returns) for steps, returns in curves])  # [N, G]
  return grid, values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def parse_references(references: Sequence[str]) -> List[Tuple[str, float]]:
  """'LABEL=VALUE' strings -> [(label, value)], split at the last '='.

  Raises:
    PlotError: a reference without '=', with an empty label or a value that is not a number.
  """
  parsed = []
  for reference in references:
    label, separator, value = reference.rpartition('=')
    try:
      number = float(value)
    except ValueError:
      number = None
    if not separator or not label.strip() or number is None:
      raise PlotError(f"--reference={reference!r} is not 'LABEL=VALUE' with a numeric VALUE, "
                      "e.g. --reference='random policy=1.0'.")
    parsed.append((label.strip(), number))
  return parsed


def plot_runs(groups: Dict[str, List[str]], output_path: str, title: str = '',
              references: Sequence[Tuple[str, float]] = ()) -> None:
  """Draws each group's return curve against environment steps into a PNG.

  Args:
    groups: legend label -> run folders (seeds of one configuration); a group of several runs
      is drawn as its mean with a shaded min-max band, a group of one as its raw curve.
    output_path: the PNG to write (its folder is created if needed).
    title: figure title.
    references: (label, return) pairs drawn as gray horizontal lines (REFERENCE_STYLES).

  Raises:
    PlotError: a run's `eval_metrics.jsonl` is missing or empty, a group has no runs, or the
      seeds of a group do not overlap in env steps.
  """
  if not groups:
    raise PlotError('Nothing to plot: no groups of runs.')
  fig = figure.Figure(figsize=FIGURE_SIZE_INCHES, dpi=DPI)
  ax = fig.add_subplot()
  for label, run_dirs in groups.items():
    if not run_dirs:
      raise PlotError(f'Group {label!r} has no run folders.')
    curves = [return_curve(load_eval_metrics(d)) for d in run_dirs]
    if len(curves) == 1:
      ax.plot(*curves[0], marker='.', label=f'{label} (n=1)')
      continue
    grid, mean, low, high = aggregate_curves(curves)
    line, = ax.plot(grid, mean, label=f'{label} (n={len(curves)})')
    ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
  for index, (label, value) in enumerate(references):
    ax.axhline(value, linestyle=REFERENCE_STYLES[index % len(REFERENCE_STYLES)], linewidth=1,
               color='gray', label=f'{label} ({value:g})')
  ax.set_xlabel('environment steps')
  ax.set_ylabel('average return')
  ax.xaxis.set_major_formatter(ticker.EngFormatter())
  ax.grid(alpha=0.3)
  ax.legend(loc='best')
  if title:
    ax.set_title(title)
  fig.tight_layout()
  output_dir = os.path.dirname(os.path.abspath(output_path))
  os.makedirs(output_dir, exist_ok=True)
  fig.savefig(output_path, format='png')


def main(argv: List[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')

  def plot_and_print():
    groups = make_groups(_RUN_DIRS.value or [], _LABELS.value or [], _GROUP_BY_SEED_SUFFIX.value)
    plot_runs(groups, _OUTPUT.value, _TITLE.value, parse_references(_REFERENCES.value))
    summary = '; '.join(f'{label}: {len(dirs)} run(s)' for label, dirs in groups.items())
    print(f'Wrote {_OUTPUT.value} ({summary})')

  cli.run_user_command(plot_and_print)  # a user error: one line, exit status 2


if __name__ == '__main__':
  flags.mark_flags_as_required(['run_dirs', 'output'])
  app.run(main)
