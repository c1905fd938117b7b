"""Graceful stop on SIGTERM / SIGINT for the long-running roles."""

import signal
import sys


class StopSignal:
  """Turns the first SIGTERM or SIGINT into a request the role's loop checks between steps.

  Python runs the handler when the main thread is next back in Python, not while it waits
  inside TensorFlow or Reverb: a role blocked there sees neither the first signal nor a second
  one until it returns (the learner's samples time out for that reason). Once the handler has
  run, a second signal takes the default action: the process ends at once, without a
  checkpoint.
  """

  def __init__(self, role: str):
    self._role = role
    self.requested = False
    self.signal_name = None
    for signum in (signal.SIGTERM, signal.SIGINT):
      signal.signal(signum, self._handle)

  def _handle(self, signum: int, frame: object) -> None:
    del frame
    self.requested = True
    self.signal_name = signal.Signals(signum).name
    print(f'[{self._role}] {self.signal_name}: stopping after the current step (another '
          'signal to this process ends it at once).', file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
