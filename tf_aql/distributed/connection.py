"""Finding the replay server: every role waits for it by its 'host:port' address."""

import time
from typing import Callable, Optional

import reverb

from tf_aql.errors import TfAqlError

DEFAULT_SERVER_TIMEOUT_S = 300.0


class ReplayServerUnavailableError(TfAqlError):
  """The replay server did not answer at the given address in time."""


def wait_for_server(address: str, timeout_s: float = DEFAULT_SERVER_TIMEOUT_S,
                    on_wait: Optional[Callable[[float], None]] = None) -> reverb.Client:
  """Returns a client of the server at `address` once it answers.

  Args:
    address: 'host:port' of the replay server.
    timeout_s: give up after this many seconds.
    on_wait: called with the seconds waited so far, about every 10 seconds.

  Raises:
    ReplayServerUnavailableError: no answer within `timeout_s`.
  """
  start = time.time()
  last_report = start
  while True:
    client = reverb.Client(address)
    try:
      client.server_info(timeout=5)
      return client
    except (reverb.errors.ReverbError, RuntimeError):
      pass
    waited = time.time() - start
    if waited >= timeout_s:
      raise ReplayServerUnavailableError(
          f'No replay server answered at {address} within {timeout_s:.0f} s: start '
          'train/distributed/replay_server.py first, or check --replay_server_address.')
    if on_wait is not None and time.time() - last_report >= 10:
      last_report = time.time()
      on_wait(waited)
    time.sleep(0.5)
