"""Runs the roles of a distributed run as Ray actors: on one machine or on a Ray cluster.

The same four roles as `launcher.Launcher` (replay server, K collectors, learner, evaluator),
each a Ray actor process running the role's own function (`start_replay_server`,
`run_collector`, `run_learner`, `run_evaluator`) with the same gin files and bindings. Reverb
stays the data plane; Ray starts, places, restarts and stops the processes:

- **Placement.** The learner goes where its resources are (`learner_resources`, by default one
  CPU); the replay server is pinned to the learner's node (its checkpoints sit beside the
  learner's) and so is the evaluator (eval_metrics.jsonl beside them); the collectors are
  spread over the cluster (`SPREAD`, each with `collector_resources`).
- **Addresses.** The server serves on a free port of its node, chosen once; every other role
  asks the server actor for its 'host:port' through Ray.
- **Faults.** A collector whose process dies is restarted by Ray, up to `max_collector_restarts`
  times, and its run resumes (`max_task_retries`); so is the learner (from its last checkpoint)
  and the replay server, up to `max_server_restarts` times each. A restarted server restores
  its latest checkpoint on the same node and port, so the Reverb clients of the other roles
  (collectors' writers, the learner's sampler, the weights' readers) reconnect by themselves.
  A role whose call fails while the server's address no longer answers asks Ray for the
  address again and joins the run again, as a role started by hand does.
- **Logs.** Each actor appends its output to `<root_dir>/logs/<role>.log` on its node (one
  `=====` header per start or restart); the launcher shows the learner's and the evaluator's
  lines, errors and restarts, as the local launcher does.
- **Stop.** At the end of training, on Ctrl-C or SIGTERM: the learner is asked to stop (it
  checkpoints, and the server with it), then the Ray job ends, which ends every other actor; a
  Ray instance the launcher started is shut down with its workers. The exit status is the
  learner's.

On a cluster every node needs this repository at the same path and the same Python stack; the
run folder should be on a file system every node sees (collectors write their rows there).
"""

import os
import time
from typing import Callable, Dict, List, Optional, Sequence

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from tf_aql.distributed import launcher as local_launcher
from tf_aql.errors import TfAqlError

REPO_ROOT = local_launcher.REPO_ROOT
DEFAULT_LEARNER_RESOURCES = {'CPU': 1.0}
DEFAULT_COLLECTOR_RESOURCES = {'CPU': 1.0}
RESTART_LINES = ('restarted by Ray', 'lost the replay server')


class RayEngineError(TfAqlError):
  """A role could not start under Ray (bad input, or a resource no node has)."""


def _log_to_role_log(root_dir: str, name: str) -> bool:
  """Sends this actor process's stdout and stderr (Python's and native code's) to
  `<root_dir>/logs/<name>.log` after a '=====' header; returns whether Ray restarted it."""
  restarted = ray.get_runtime_context().was_current_actor_reconstructed
  path = os.path.join(root_dir, 'logs', f'{name}.log')
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'a') as f:
    f.write(f'===== {time.strftime("%Y-%m-%d %H:%M:%S")} {name} (Ray actor'
            f'{", restarted by Ray" if restarted else ""})\n')
  fd = os.open(path, os.O_WRONLY | os.O_APPEND)
  os.dup2(fd, 1)
  os.dup2(fd, 2)
  os.close(fd)
  return restarted


def _where() -> Dict:
  return {'pid': os.getpid(), 'node_id': ray.get_runtime_context().get_node_id(),
          'node_ip': ray.util.get_node_ip_address()}


def _answers(address: str) -> bool:
  """Whether a Reverb server answers at `address` within a few seconds."""
  import reverb  # pylint: disable=g-import-not-at-top
  try:
    reverb.Client(address).server_info(timeout=3)
    return True
  except Exception:  # pylint: disable=broad-except
    return False


class ReplayServerActor:
  """The replay server role in a Ray actor: serves from construction until killed."""

  def __init__(self, root_dir: str, port: int, gin_files: Sequence[str],
               gin_bindings: Sequence[str]):
    from tf_aql import cli  # pylint: disable=g-import-not-at-top
    from tf_aql.distributed.replay_server import start_replay_server  # pylint: disable=g-import-not-at-top
    restarted = _log_to_role_log(root_dir, 'replay_server')
    self.error = None
    self._service = None
    try:
      cli.parse_gin(gin_files, gin_bindings)
      # The same port after a restart: Reverb clients retry their address, so the collectors'
      # writers, the learner's sampler and the weights' readers resume by themselves.
      self._service = start_replay_server(root_dir, port)
    except TfAqlError as error:
      self.error = error.user_message
      print(f'error: {self.error}', flush=True)
      return
    self._address = f'{ray.util.get_node_ip_address()}:{self._service.server.port}'
    if restarted:
      print(f'[replay_server] restarted by Ray at {self._address}', flush=True)

  def address(self) -> str:
    """'host:port' of this server; raises `RayEngineError` if it could not start."""
    if self.error is not None:
      raise RayEngineError(self.error)
    return self._address

  def startup_error(self) -> Optional[str]:
    return self.error

  def where(self) -> Dict:
    return _where()


class RoleActor:
  """A collector, the learner or the evaluator in a Ray actor.

  `run` runs the role's function with the server's current address and runs it again when
  the replay server was lost and restarted; it returns {'status': 0 | 2 | 130, 'error': str or
  None, 'result': the function's result}. Two calls at a time, so `where` and `stop` answer
  while `run` runs.
  """

  def __init__(self, name: str, root_dir: str, gin_files: Sequence[str],
               gin_bindings: Sequence[str]):
    restarted = _log_to_role_log(root_dir, name)
    self._label = name.replace('_', ' ')  # 'collector 0', as in the role's own lines
    self._root_dir = root_dir
    self._gin = (gin_files, gin_bindings)  # parsed in `run`, so that placement is quick
    self._stop = None
    self._stop_requested = False
    if restarted:
      print(f'[{self._label}] restarted by Ray (pid {os.getpid()})', flush=True)

  def where(self) -> Dict:
    return _where()

  def free_port(self) -> int:
    """A free port of this actor's node (for the replay server placed beside it)."""
    import portpicker  # pylint: disable=g-import-not-at-top
    return portpicker.pick_unused_port()

  def stop(self) -> None:
    """Asks the learner to checkpoint and stop; ends the others' rejoin loop."""
    self._stop_requested = True
    if self._stop is not None:
      self._stop.request('stop requested by the launcher')

  def run(self, role: str, server, **kwargs) -> Dict:
    """Runs `role` ('collector', 'learner' or 'evaluator') against `server`'s address."""
    # pylint: disable=g-import-not-at-top
    from tf_aql import cli
    from tf_aql.distributed.stop_signal import StopSignal
    self._stop = StopSignal(self._label)
    if self._stop_requested:
      self._stop.request('stop requested by the launcher')
    try:
      cli.parse_gin(*self._gin)
      run_role = self._role_function(role, **kwargs)
      return {'status': 0, 'error': None, 'result': self._run_rejoining(run_role, server)}
    except TfAqlError as error:
      print(f'error: {error.user_message}', flush=True)
      return {'status': 2, 'error': error.user_message, 'result': None}
    except KeyboardInterrupt:
      return {'status': 130, 'error': None, 'result': None}

  def _role_function(self, role: str, **kwargs) -> Callable[[str], object]:
    # pylint: disable=g-import-not-at-top
    if role == 'learner':
      from tf_aql.distributed.learner import run_learner
      return lambda address: run_learner(self._root_dir, address, stop=self._stop, **kwargs)
    if role == 'collector':
      from tf_aql.distributed.collector import run_collector
      return lambda address: run_collector(self._root_dir, address, **kwargs)
    if role == 'evaluator':
      from tf_aql.distributed.evaluator import run_evaluator
      return lambda address: run_evaluator(self._root_dir, address, **kwargs)
    raise ValueError(f'Unknown role {role!r}.')

  def _run_rejoining(self, run_role: Callable[[str], object], server) -> object:
    while True:
      address = ray.get(server.address.remote())  # waits while Ray restarts the server
      try:
        return run_role(address)
      except (TfAqlError, KeyboardInterrupt):
        raise
      except Exception as error:  # pylint: disable=broad-except
        if self._stop.requested or _answers(address):
          raise
        print(f'[{self._label}] lost the replay server at {address} '
              f'({type(error).__name__}); joining again once Ray has restarted it', flush=True)


def _options(resources: Dict[str, float]) -> Dict:
  """Ray actor options for a resource dict such as {'CPU': 1, 'GPU': 0, 'collector_node': 1}."""
  rest = dict(resources)
  options = {'num_cpus': float(rest.pop('CPU', 0.0)), 'num_gpus': float(rest.pop('GPU', 0.0))}
  if rest:
    options['resources'] = {name: float(value) for name, value in rest.items()}
  return options


class RayLauncher(local_launcher.SupervisedRun):
  """Starts and supervises the roles of one run as Ray actors (see the module docstring)."""
  start_errors = (RayEngineError,)

  def __init__(self, root_dir: str, num_collectors: int, gin_files: Sequence[str],
               gin_bindings: Sequence[str] = (), num_train_steps: Optional[int] = None,
               with_evaluator: bool = True, ray_address: Optional[str] = None,
               learner_resources: Optional[Dict[str, float]] = None,
               collector_resources: Optional[Dict[str, float]] = None,
               max_collector_restarts: int = 3, max_server_restarts: int = 3,
               stop_timeout_s: float = 30.0, final_eval_timeout_s: float = 120.0,
               echo: Callable[[str], None] = lambda line: print(line, flush=True)):
    if num_collectors < 1:
      raise ValueError(f'num_collectors must be at least 1, not {num_collectors}.')
    self.root_dir = os.path.abspath(os.path.expanduser(root_dir))
    self._gin = ([os.path.abspath(path) for path in gin_files], list(gin_bindings))
    self._num_collectors = num_collectors
    self._num_train_steps = num_train_steps
    self._with_evaluator = with_evaluator
    self._ray_address = ray_address
    self._learner_resources = dict(learner_resources or DEFAULT_LEARNER_RESOURCES)
    self._collector_resources = dict(collector_resources or DEFAULT_COLLECTOR_RESOURCES)
    self._max_collector_restarts = max_collector_restarts
    self._max_server_restarts = max_server_restarts
    self._stop_timeout_s = stop_timeout_s
    self._final_eval_timeout_s = final_eval_timeout_s
    self._echo = echo
    self.server = self.learner = self.evaluator = None
    self.collectors: List = []
    self.placement: Dict[str, Dict] = {}  # role name -> {pid, node_id, node_ip}, once started
    self._refs: Dict[str, ray.ObjectRef] = {}
    self._reported: set = set()
    self._tails: Dict[str, local_launcher.LogTail] = {}

  @property
  def logs_dir(self) -> str:
    return os.path.join(self.root_dir, 'logs')

  def _role_names(self) -> List[str]:
    return (['replay_server', 'learner'] +
            [f'collector_{k}' for k in range(self._num_collectors)] +
            (['evaluator'] if self._with_evaluator else []))

  def _connect(self) -> None:
    if ray.is_initialized():
      return
    # Ray starts workers at niceness 15 by default (to keep its own daemons responsive); the
    # roles are the workload, so they run at the launcher's priority, as the local launcher's.
    runtime_env = {'env_vars': {'PYTHONPATH': REPO_ROOT, 'TF_CPP_MIN_LOG_LEVEL': '3',
                                'PYTHONUNBUFFERED': '1', 'RAY_worker_niceness': '0'}}
    if self._ray_address:
      ray.init(address=self._ray_address, runtime_env=runtime_env, log_to_driver=False,
               logging_level='ERROR')
      return
    needed = (self._learner_resources.get('CPU', 0) +
              self._num_collectors * self._collector_resources.get('CPU', 0))
    ray.init(num_cpus=max(os.cpu_count() or 1, int(needed + 0.999)), include_dashboard=False,
             runtime_env=runtime_env, log_to_driver=False, logging_level='ERROR')

  def start(self) -> None:
    """Connects to Ray, places and starts every role; raises `RayEngineError` on bad input."""
    self._connect()
    os.makedirs(self.logs_dir, exist_ok=True)
    self._tails = {name: local_launcher.LogTail(os.path.join(self.logs_dir, f'{name}.log'))
                   for name in self._role_names()}
    self._check_placeable(self._learner_resources, 'the learner', '--learner_resources')
    self._check_placeable(self._collector_resources, 'a collector', '--collector_resources')
    role_actor = ray.remote(RoleActor)
    self.learner = role_actor.options(
        max_concurrency=2, max_restarts=self._max_server_restarts, max_task_retries=-1,
        **_options(self._learner_resources)).remote('learner', self.root_dir, *self._gin)
    learner_node = ray.get(self.learner.where.remote())['node_id']
    port = ray.get(self.learner.free_port.remote())
    on_learner_node = NodeAffinitySchedulingStrategy(learner_node, soft=False)
    self.server = ray.remote(ReplayServerActor).options(
        num_cpus=0, scheduling_strategy=on_learner_node, max_restarts=self._max_server_restarts,
        max_task_retries=-1).remote(self.root_dir, port, *self._gin)
    self.collectors = [role_actor.options(
        max_concurrency=2, scheduling_strategy='SPREAD', max_restarts=self._max_collector_restarts,
        max_task_retries=-1, **_options(self._collector_resources)).remote(
            f'collector_{k}', self.root_dir, *self._gin) for k in range(self._num_collectors)]
    if self._with_evaluator:
      self.evaluator = role_actor.options(
          num_cpus=0, max_concurrency=2,
          scheduling_strategy=NodeAffinitySchedulingStrategy(learner_node, soft=True)).remote(
              'evaluator', self.root_dir, *self._gin)
    # Every role starts at once; each waits for the server's address through Ray.
    self._refs['learner'] = self.learner.run.remote(
        'learner', self.server, num_train_steps=self._num_train_steps)
    for k, collector in enumerate(self.collectors):
      self._refs[f'collector_{k}'] = collector.run.remote('collector', self.server, task_id=k)
    if self.evaluator is not None:
      self._refs['evaluator'] = self.evaluator.run.remote('evaluator', self.server)
    error = ray.get(self.server.startup_error.remote())
    if error is not None:
      raise RayEngineError(error)
    address = ray.get(self.server.address.remote())
    actors = {'learner': self.learner, 'replay_server': self.server,
              **{f'collector_{k}': c for k, c in enumerate(self.collectors)}}
    wheres = dict(zip(actors, ray.get([actor.where.remote() for actor in actors.values()])))
    self.placement = wheres
    nodes = sorted({wheres[f'collector_{k}']['node_ip'] for k in range(len(self.collectors))})
    self._echo(f'[launcher] Ray: replay server at {address} with the learner; '
               f'{len(self.collectors)} collector(s) on {", ".join(nodes)}; logs in '
               f'{self.logs_dir}')

  def _check_placeable(self, resources: Dict[str, float], what: str, flag: str) -> None:
    """Raises `RayEngineError` when no live node of the cluster offers `resources`."""
    for node in ray.nodes():
      offered = node.get('Resources', {})
      if node.get('Alive') and all(offered.get(name, 0.0) >= amount
                                   for name, amount in resources.items()):
        return
    raise RayEngineError(f'No node of the Ray cluster offers the resources {resources} that '
                         f'{what} asks for: start a node that has them (ray start '
                         f"--resources=...) or pass another {flag}.")

  def wait(self, poll_s: float = 0.5) -> int:
    """Supervises until the learner ends; stops everything; returns the learner's status."""
    learner_ref = self._refs['learner']
    while not ray.wait([learner_ref], timeout=poll_s)[0]:
      self._echo_new_lines()
      for name, ref in self._refs.items():
        if name != 'learner' and name not in self._reported and ray.wait([ref], timeout=0)[0]:
          self._report_end(name, self._status(name))
    status = self._status('learner')
    if status != 0:
      self._report_end('learner', status)
    elif 'evaluator' in self._refs:
      self._echo('[launcher] learner done; waiting for the final evaluation...')
      ray.wait([self._refs['evaluator']], timeout=self._final_eval_timeout_s)
    self.stop()
    self._echo_new_lines()
    return status

  def _status(self, name: str) -> int:
    """The exit status of the finished role `name` (1 if its actor died); echoes its error."""
    try:
      outcome = ray.get(self._refs[name])
    except ray.exceptions.RayError:
      return 1
    if outcome['status'] == 2:
      self._echo(f'error: {outcome["error"]}')
    return outcome['status']

  def _report_end(self, name: str, status: int) -> None:
    self._reported.add(name)
    if name == 'evaluator' and status == 0:
      return
    self._echo(f'[launcher] {name} ended with status {status}; last lines of '
               f'{os.path.join(self.logs_dir, name + ".log")}:')
    for line in local_launcher.last_lines(os.path.join(self.logs_dir, f'{name}.log'), 10):
      self._echo(f'    {line}')

  def _prepare(self) -> None:
    self._connect()  # before the launcher's handlers: ray.init installs its own for SIGTERM

  def stop(self) -> None:
    """Asks the learner to checkpoint and stop, then ends every other role."""
    if not ray.is_initialized():
      return
    with local_launcher.signals_reported(self._report_signal_while_stopping):
      if self.learner is not None and 'learner' in self._refs:
        self.learner.stop.remote()
        if not ray.wait([self._refs['learner']], timeout=self._stop_timeout_s)[0]:
          self._echo(f'[launcher] the learner did not stop within {self._stop_timeout_s:g} s; '
                     'killing it.')
          ray.kill(self.learner, no_restart=True)
      self.server = self.learner = self.evaluator = None
      self.collectors = []
      # Ends this Ray job: Ray kills its actors (collectors, evaluator, then-idle server: the
      # learner's last checkpoint checkpointed the replay) and stops a Ray instance this
      # launcher started; a cluster keeps running. (A Reverb server's own stop would wait for
      # the collectors' open streams.)
      ray.shutdown()

  def _report_signal_while_stopping(self) -> None:
    self._echo(f'[launcher] already stopping: the learner has {self._stop_timeout_s:g} s to save '
               'a checkpoint before it is killed.')

  def _echo_new_lines(self) -> None:
    for name, tail in self._tails.items():
      for line in tail.new_lines():
        if line.startswith(local_launcher.ECHOED_PREFIXES) or any(
            text in line for text in RESTART_LINES):
          self._echo(line if line.startswith('[') else f'[{name}] {line}')
