"""Graceful stop on SIGTERM / SIGINT for the long-running roles."""

import signal
import sys


class StopSignal:
  """Turns the first SIGTERM or SIGINT into a request the role's loop checks between steps.

  A second signal takes the default action (the process ends at once): a role blocked inside
  Reverb or TensorFlow does not return to Python to see the request.
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
    print(f'[{self._role}] {self.signal_name}: stopping after the current step '
          '(send it again to stop at once).', file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
