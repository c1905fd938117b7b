"""Keeps the informational lines of Reverb's and XLA's C++ loggers off the console.

Reverb 0.14 logs through its own C++ logger, which writes to file descriptor 2 and has no level
switch (neither `TF_CPP_MIN_LOG_LEVEL` nor absl's flags reach it); XLA's "Compiled cluster using
XLA!" line and absl's "All log messages before absl::InitializeLog()" warning bypass
`TF_CPP_MIN_LOG_LEVEL` in TensorFlow 2.15. Their info lines (Reverb's "Sampler and server are
owned by the same process", "Stored checkpoint to ...", the replay checkpoint loading steps,
server start and stop) would break the progress bar at every evaluation. The calls that log them
run inside `native_info_dropped()`: descriptor 2 goes to a temporary file for the call, and
afterwards every captured line is written back to stderr except the known informational ones
(`is_native_info`), so warnings, errors and tracebacks still reach the console.
"""

import contextlib
import os
import sys
import tempfile
from typing import Iterator

# Fragments of the informational lines Reverb 0.14 prints in normal operation.
REVERB_INFO = (
    'Initializing TFRecordCheckpointer',
    'Loading latest checkpoint',
    'Loading checkpoint from',
    'Loading and verifying metadata',
    'was successfully loaded and verified',
    'Successfully loaded and verified metadata',
    'reading compressed trajectory data',
    'have been successfully loaded from checkpoint',
    'Successfully loaded 1 tables',
    'Started replay server on port',
    'Shutting down replay server',
    'Sampler and server are owned by the same process',
    'Stored checkpoint to',
)
# Lines TensorFlow 2.15's XLA and absl print once per process, whatever TF_CPP_MIN_LOG_LEVEL says.
ONCE_PER_PROCESS = (
    'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR',
    'Compiled cluster using XLA!',
)


def is_native_info(line: str) -> bool:
  """Whether `line` is one of the informational lines above."""
  if line.startswith('[reverb/cc/'):
    return any(text in line for text in REVERB_INFO)
  return any(text in line for text in ONCE_PER_PROCESS)


@contextlib.contextmanager
def native_info_dropped() -> Iterator[None]:
  """Runs the block with descriptor 2 captured; writes back all but the informational lines."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as capture:
    os.dup2(capture.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      capture.seek(0)
      kept = [line for line in capture.read().decode(errors='replace').splitlines(True)
              if not is_native_info(line)]
      if kept:
        sys.stderr.write(''.join(kept))
        sys.stderr.flush()
