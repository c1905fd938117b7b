"""The policy weights the learner publishes and the collectors and the evaluator pull.

TF-Agents' variable-container convention (`tf_agents.experimental.distributed.
reverb_variable_container`): a Reverb table named `DEFAULT_TABLE` ('variables') with
`max_size=1`, a `MinSize(1)` rate limiter and a signature, holding one item: the nest

    {POLICY_KEY: [policy variables], TRAIN_STEP_KEY: train_step,
     'env_step': env steps when pushed, 'wall_time_s': run wall time when pushed,
     'final': True once the learner has reached its last train step}

Every role builds the same agent from the same gin files, so the nests agree. The policy
variables are those of the collect and the greedy policy, each once.
"""

import time
from typing import Callable, Dict, Optional

import reverb
import tensorflow as tf
from tf_agents.experimental.distributed import reverb_variable_container as container_lib

from tf_aql.train_loop import AgentState

TABLE_NAME = container_lib.DEFAULT_TABLE
ENV_STEP_KEY = 'env_step'
WALL_TIME_KEY = 'wall_time_s'
FINAL_KEY = 'final'


class PolicyWeights:
  """Pushes or pulls an `AgentState`'s policy variables and counters through Reverb."""

  def __init__(self, state: AgentState):
    self._state = state
    self._final = tf.Variable(False, name='final')
    self.variables = {
        container_lib.POLICY_KEY: state.policy_variables(),
        container_lib.TRAIN_STEP_KEY: state.train_step,
        ENV_STEP_KEY: state.env_step,
        WALL_TIME_KEY: state.wall_time,
        FINAL_KEY: self._final,
    }
    self._client = None
    self._container = None

  def signature(self) -> Dict:
    return tf.nest.map_structure(lambda v: tf.TensorSpec(v.shape, v.dtype), self.variables)

  def make_table(self) -> reverb.Table:
    """The server's variable table: one item, replaced by every push."""
    return reverb.Table(
        TABLE_NAME,
        sampler=reverb.selectors.Uniform(),
        remover=reverb.selectors.Fifo(),
        rate_limiter=reverb.rate_limiters.MinSize(1),
        max_size=1,
        max_times_sampled=0,
        signature=self.signature())

  def connect(self, server_address: str) -> None:
    self._client = reverb.Client(server_address)
    self._container = container_lib.ReverbVariableContainer(server_address,
                                                            table_names=[TABLE_NAME])

  def push(self, final: bool = False) -> None:
    self._final.assign(final)
    self._container.push(self.variables, TABLE_NAME)

  @property
  def available(self) -> bool:
    """Whether the learner (or a restored server checkpoint) has published weights."""
    return self._client.server_info()[TABLE_NAME].current_size > 0

  def wait_until_available(self, on_wait: Optional[Callable[[float], None]] = None) -> None:
    """Waits for the first weights; calls `on_wait(seconds)` about every 10 seconds."""
    start = last_report = time.time()
    while not self.available:
      if on_wait is not None and time.time() - last_report >= 10:
        last_report = time.time()
        on_wait(time.time() - start)
      time.sleep(0.5)

  def pull(self) -> None:
    """Assigns the published values to the policy variables and the counters."""
    self._container.update(self.variables, TABLE_NAME)

  @property
  def train_step(self) -> int:
    return int(self._state.train_step.numpy())

  @property
  def env_step(self) -> int:
    return int(self._state.env_step.numpy())

  @property
  def wall_time_s(self) -> float:
    return float(self._state.wall_time.numpy())

  @property
  def final(self) -> bool:
    return bool(self._final.numpy())
