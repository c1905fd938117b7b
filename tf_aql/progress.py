"""Console progress of long runs: a tqdm bar over environment steps with rates and returns."""

import sys
from typing import Optional

from tqdm import tqdm


class Progress:
  """Shows env steps done / total, ETA, steps per second and the latest returns.

  On a terminal it is a live bar; in a log file (not a TTY) tqdm writes a line per update, and
  updates come every `interval_s` seconds.
  """

  def __init__(self, total_env_steps: int, start_env_steps: int = 0, enabled: bool = True,
               interval_s: float = 10.0):
    self.interval_s = interval_s if sys.stderr.isatty() else max(interval_s, 30.0)
    self._bar = tqdm(total=total_env_steps, initial=start_env_steps, unit='step',
                     desc='env steps', disable=not enabled, dynamic_ncols=True,
                     mininterval=1.0, file=sys.stderr)
    self._done = start_env_steps

  def update(self, env_steps: int, collect_return: Optional[float] = None,
             eval_return: Optional[float] = None, env_sps: Optional[float] = None,
             train_sps: Optional[float] = None) -> None:
    postfix = {}
    if collect_return is not None:
      postfix['collect_return'] = f'{collect_return:.3g}'
    if eval_return is not None:
      postfix['eval_return'] = f'{eval_return:.3g}'
    if env_sps is not None:
      postfix['env/s'] = f'{env_sps:.0f}'
    if train_sps is not None:
      postfix['train/s'] = f'{train_sps:.1f}'
    self._bar.set_postfix(postfix, refresh=False)
    self._bar.update(max(0, env_steps - self._done))
    self._done = env_steps

  def close(self) -> None:
    self._bar.close()
