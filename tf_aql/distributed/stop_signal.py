"""Graceful stop on SIGTERM / SIGINT for the long-running roles."""

import signal
import sys
import threading


class StopSignal:
  """Turns the first SIGTERM or SIGINT into a request the role's loop checks between steps.

  Python runs the handler when the main thread is next back in Python, not while it waits
  inside TensorFlow or Reverb: a role blocked there sees neither the first signal nor a second
  one until it returns (the learner's samples time out for that reason). Once the handler has
  run, a second signal takes the default action: the process ends at once, without a
  checkpoint.

  Outside the main thread (a role run by a Ray actor, `tf_aql.distributed.ray_engine`) no
  handler is installed: the owner stops the role with `request()`.
  """

  def __init__(self, role: str):
    self._role = role
    self.requested = False
    self.signal_name = None
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, self._handle)

  def request(self, reason: str) -> None:
    """Asks the role to stop after its current step, as the first signal would."""
    self.requested = True
    self.signal_name = reason
    print(f'[{self._role}] {reason}: stopping after the current step.', file=sys.stderr,
          flush=True)

  def _handle(self, signum: int, frame: object) -> None:
    del frame
    self.requested = True
    self.signal_name = signal.Signals(signum).name
    print(f'[{self._role}] {self.signal_name}: stopping after the current step (another '
          'signal to this process ends it at once).', file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
