"""Starts a whole distributed run on this machine and supervises it.

One replay server, K collectors, one learner and one evaluator, each a subprocess running its
`train/distributed/*.py` entry point with the same gin files and bindings. The server's port
comes from `portpicker`; the other roles get `--replay_server_address=localhost:PORT`. Each
role's output goes to `<root_dir>/logs/<role>.log` (appended, so restarts keep the history);
the learner's `[learner]` and the evaluator's `[evaluator]` lines are echoed to the console.

A collector that crashes (any exit status but 0, and 2, which means bad input that a restart
would not fix) is restarted after `restart_delay_s`, up to `max_collector_restarts` times per
collector; it rejoins the run as a collector started by hand does (waits for the server, pulls
the latest weights).

The run ends when the learner exits. After a successful learner the evaluator gets
`final_eval_timeout_s` to evaluate the final weights; then every process still running is
stopped: SIGTERM, and SIGKILL after `stop_timeout_s`. Collectors, evaluator and learner are
stopped first (the learner checkpoints on SIGTERM, which needs the server), the server last.
Ctrl-C or SIGTERM to the launcher does the same. Another Ctrl-C or SIGTERM while stopping is
reported and ignored: each role gets its one SIGTERM and its whole `stop_timeout_s` (a second
SIGTERM would end the learner at once, before its checkpoint). The exit status is the
learner's.

This module imports neither TensorFlow nor Reverb, so the launcher starts at once.
"""

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

import portpicker

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS_DIR = os.path.join(REPO_ROOT, 'train', 'distributed')
ECHOED_PREFIXES = ('[learner]', '[evaluator]', 'error:')


@dataclasses.dataclass
class RoleProcess:
  """One started role: its name, command line, log file and process."""
  name: str
  argv: List[str]
  log_path: str
  process: Optional[subprocess.Popen] = None
  log_file: Optional[TextIO] = None
  exit_reported: bool = False
  restarts: int = 0
  restart_at: Optional[float] = None  # time.time() at which a crashed role is started again

  @property
  def running(self) -> bool:
    return self.process is not None and self.process.poll() is None

  @property
  def exit_status(self) -> Optional[int]:
    """The exit status as a shell reports it (128 + N when killed by signal N)."""
    if self.process is None or self.process.poll() is None:
      return None
    code = self.process.returncode
    return 128 - code if code < 0 else code


def role_command(script: str, python: str, root_dir: str, gin_files: Sequence[str],
                 gin_bindings: Sequence[str], *extra: str) -> List[str]:
  """The command line of `train/distributed/<script>` with the shared flags."""
  return ([python, os.path.join(SCRIPTS_DIR, script), f'--root_dir={root_dir}'] +
          [f'--gin_file={path}' for path in gin_files] +
          [f'--gin_bindings={binding}' for binding in gin_bindings] + list(extra))


class LogTail:
  """Reads the lines appended to a file since the last call."""

  def __init__(self, path: str):
    self._path = path
    self._offset = os.path.getsize(path) if os.path.exists(path) else 0
    self._partial = ''

  def new_lines(self) -> List[str]:
    if not os.path.exists(self._path):
      return []
    with open(self._path, errors='replace') as f:
      f.seek(self._offset)
      text = f.read()
      self._offset = f.tell()
    text = self._partial + text
    lines = text.split('\n')
    self._partial = lines.pop()
    return [line.rstrip('\r') for line in lines]


class SupervisedRun:
  """What both launchers share: `run` = start, wait, stop; Ctrl-C and SIGTERM stop every role.

  Subclasses define start(), wait() -> exit status, stop(), _echo(line), _echo_new_lines().
  """
  start_errors: Tuple[type, ...] = ()  # errors of start() that mean bad input (exit 2)

  def _prepare(self) -> None:
    """Runs before the launcher's signal handlers are installed."""

  def _interrupted_status(self) -> int:
    return 130

  def run(self) -> int:
    """Starts, supervises and stops; Ctrl-C and SIGTERM stop every role."""
    self._prepare()
    with interrupts_raised():
      try:
        self.start()
        return self.wait()
      except KeyboardInterrupt:
        self._echo('[launcher] interrupted; stopping every role...')
        self.stop()
        self._echo_new_lines()
        return self._interrupted_status()
      except self.start_errors as error:  # pylint: disable=catching-non-exception
        self._echo(f'error: {error}')
        self.stop()
        return 2
      finally:
        self.stop()


class Launcher(SupervisedRun):
  """Starts and supervises the roles of one run on this machine."""

  def __init__(self, root_dir: str, num_collectors: int, gin_files: Sequence[str],
               gin_bindings: Sequence[str] = (), num_train_steps: Optional[int] = None,
               with_evaluator: bool = True, port: Optional[int] = None,
               python: str = sys.executable, stop_timeout_s: float = 30.0,
               final_eval_timeout_s: float = 120.0,
               max_collector_restarts: int = 3, restart_delay_s: float = 5.0,
               echo: Callable[[str], None] = lambda line: print(line, flush=True)):
    if num_collectors < 1:
      raise ValueError(f'num_collectors must be at least 1, not {num_collectors}.')
    self.root_dir = os.path.abspath(os.path.expanduser(root_dir))
    self.port = port or portpicker.pick_unused_port()
    self.address = f'localhost:{self.port}'
    self._stop_timeout_s = stop_timeout_s
    self._final_eval_timeout_s = final_eval_timeout_s
    self._max_collector_restarts = max_collector_restarts
    self._restart_delay_s = restart_delay_s
    self._echo = echo
    logs_dir = os.path.join(self.root_dir, 'logs')

    def role(name: str, script: str, *extra: str) -> RoleProcess:
      return RoleProcess(name, role_command(script, python, self.root_dir, gin_files,
                                            gin_bindings, *extra),
                         os.path.join(logs_dir, f'{name}.log'))

    address = f'--replay_server_address={self.address}'
    self.server = role('replay_server', 'replay_server.py', f'--port={self.port}')
    learner_flags = [address] + ([f'--num_train_steps={num_train_steps}']
                                 if num_train_steps is not None else [])
    self.learner = role('learner', 'learn.py', *learner_flags)
    self.collectors = [role(f'collector_{k}', 'collect.py', address, f'--task_id={k}')
                       for k in range(num_collectors)]
    self.evaluator = role('evaluator', 'evaluate_role.py', address) if with_evaluator else None
    self._tails: Dict[str, LogTail] = {}

  @property
  def roles(self) -> List[RoleProcess]:
    """Every role, in start order (the server first)."""
    return ([self.server, self.learner] + self.collectors +
            ([self.evaluator] if self.evaluator else []))

  def start(self) -> None:
    os.makedirs(os.path.dirname(self.server.log_path), exist_ok=True)
    for role in self.roles:
      self.start_role(role)
    self._echo(f'[launcher] replay server at {self.address}; {len(self.collectors)} '
               f'collector(s); logs in {os.path.dirname(self.server.log_path)}')

  def start_role(self, role: RoleProcess) -> None:
    """Starts `role` (again), appending to its log; its own session keeps Ctrl-C away."""
    self._tails[role.name] = LogTail(role.log_path)
    if role.log_file is not None:
      role.log_file.close()
    role.log_file = open(role.log_path, 'a')
    role.log_file.write(f'===== {time.strftime("%Y-%m-%d %H:%M:%S")} '
                        f'{" ".join(role.argv)}\n')
    role.log_file.flush()
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    role.process = subprocess.Popen(role.argv, stdout=role.log_file,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=env, cwd=os.getcwd())
    role.exit_reported = False

  def wait(self, poll_s: float = 0.5) -> int:
    """Supervises until the learner exits; stops everything; returns the learner's status."""
    while True:
      self._echo_new_lines()
      if not self.learner.running:
        break
      if not self.server.running:
        self._report_exit(self.server)
        self._echo('[launcher] the replay server stopped; stopping the run.')
        self.stop()
        return self.server.exit_status or 1  # 2: bad input, as every role would report
      for role in self.collectors:
        self._supervise_collector(role)
      if self.evaluator is not None and not self.evaluator.running and (
          not self.evaluator.exit_reported):
        if self.evaluator.exit_status == 0:
          self.evaluator.exit_reported = True  # it evaluated the learner's final weights
        else:
          self._report_exit(self.evaluator)
      time.sleep(poll_s)
    status = self.learner.exit_status
    if status != 0:
      self._report_exit(self.learner)
    elif self.evaluator is not None and self.evaluator.running:
      self._echo('[launcher] learner done; waiting for the final evaluation...')
      deadline = time.time() + self._final_eval_timeout_s
      while self.evaluator.running and time.time() < deadline:
        self._echo_new_lines()
        time.sleep(poll_s)
    self.stop()
    self._echo_new_lines()
    return status

  def _supervise_collector(self, role: RoleProcess) -> None:
    """Reports a collector's exit once and restarts it after a crash, within the budget."""
    if role.running:
      return
    if role.restart_at is not None:
      if time.time() >= role.restart_at:
        role.restart_at = None
        role.restarts += 1
        self.start_role(role)
      return
    if role.exit_reported:
      return
    self._report_exit(role)
    if role.exit_status not in (0, 2) and role.restarts < self._max_collector_restarts:
      role.restart_at = time.time() + self._restart_delay_s
      self._echo(f'[launcher] restarting {role.name} in {self._restart_delay_s:g} s '
                 f'({role.restarts + 1}/{self._max_collector_restarts}).')

  def _interrupted_status(self) -> int:
    status = self.learner.exit_status
    return status if status not in (None, 0) else 130

  def stop(self) -> None:
    """SIGTERM to every running role (server last), SIGKILL after the timeout.

    Ctrl-C and SIGTERM are reported, not raised, until it returns.
    """
    others = [r for r in self.roles if r is not self.server]
    with signals_reported(self._report_signal_while_stopping):
      self._terminate(others)
      self._terminate([self.server])
    for role in self.roles:
      if role.log_file is not None:
        role.log_file.close()
        role.log_file = None

  def _terminate(self, roles: Sequence[RoleProcess]) -> None:
    running = [r for r in roles if r.running]
    for role in running:
      role.process.terminate()
    deadline = time.time() + self._stop_timeout_s
    for role in running:
      try:
        role.process.wait(timeout=max(0.1, deadline - time.time()))
      except subprocess.TimeoutExpired:
        self._echo(f'[launcher] {role.name} did not exit within {self._stop_timeout_s:g} s '
                   'of SIGTERM; killing it.')
        role.process.kill()
        role.process.wait(timeout=10)
      role.exit_reported = True

  def _report_signal_while_stopping(self) -> None:
    self._echo(f'[launcher] already stopping: each role has {self._stop_timeout_s:g} s to exit '
               '(the learner saves a checkpoint) before it is killed.')

  def _echo_new_lines(self) -> None:
    for role in self.roles:
      tail = self._tails.get(role.name)
      if tail is None:
        continue
      for line in tail.new_lines():
        if line.startswith(ECHOED_PREFIXES):
          self._echo(line if line.startswith('[') else f'[{role.name}] {line}')

  def _report_exit(self, role: RoleProcess) -> None:
    role.exit_reported = True
    self._echo(f'[launcher] {role.name} exited with status {role.exit_status}; last lines of '
               f'{role.log_path}:')
    for line in last_lines(role.log_path, 10):
      self._echo(f'    {line}')


@contextlib.contextmanager
def interrupts_raised() -> Iterator[None]:
  """Within the block SIGINT and SIGTERM raise KeyboardInterrupt.

  SIGINT explicitly too: a launcher started in the background by a shell inherits SIGINT
  ignored, and Python then raises no KeyboardInterrupt for it.
  """
  previous = {signum: signal.signal(signum, _raise_keyboard_interrupt)
              for signum in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def signals_reported(report: Callable[[], None]) -> Iterator[None]:
  """Within the block SIGINT and SIGTERM call `report` instead of interrupting it.

  Signal handlers belong to the main thread; elsewhere the block runs unchanged.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  signums = (signal.SIGINT, signal.SIGTERM)
  previous = {signum: signal.signal(signum, lambda signum, frame: report())
              for signum in signums}
  try:
    yield
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
  del signum, frame
  raise KeyboardInterrupt


def last_lines(path: str, count: int) -> List[str]:
  if not os.path.exists(path):
    return []
  with open(path, errors='replace') as f:
    return [line.rstrip('\n') for line in f.readlines()[-count:]]
