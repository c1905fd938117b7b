"""`make_*` factories shared by every entry point (train_eval and the distributed roles).

Code supplies the specs, gin supplies the sizes: each factory takes the environment's specs and
reads its hyper-parameters from gin bindings (see `gin/base.gin`).
"""

from typing import Callable, Optional

import gin
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace
from tf_aql.agents.aql_agent import AqlAgent
from tf_aql.networks.critic_network import CriticNetwork
from tf_aql.networks.proposal_network import ProposalNetwork
from tf_aql.search.amortized import AmortizedSearch


@gin.configurable
def make_agent(time_step_spec: types.TimeStep, action_spec: types.BoundedTensorSpec,
               train_step: tf.Variable,
               agent_fn: Optional[Callable[..., tf_agent.TFAgent]] = None) -> tf_agent.TFAgent:
  """Builds the agent chosen by `make_agent.agent_fn` (default: `make_aql_agent`)."""
  agent_fn = agent_fn or make_aql_agent
  agent = agent_fn(time_step_spec, action_spec, train_step)
  agent.initialize()
  return agent


@gin.configurable
def make_aql_agent(time_step_spec: types.TimeStep, action_spec: types.BoundedTensorSpec,
                   train_step: tf.Variable,
                   search_fn: Callable[[ActionSpace], object] = AmortizedSearch,
                   use_proposal: bool = True,
                   learning_rate: float = 3e-4,
                   proposal_learning_rate: Optional[float] = None) -> AqlAgent:
  """AQL and its search variants: critic + optional proposal + search, one `AqlAgent`.

  Args:
    time_step_spec: the environment's time-step spec (tensor specs).
    action_spec: the environment's action spec.
    train_step: the train-step counter variable.
    search_fn: the search class (gin: `@AmortizedSearch`, `@UniformSearch`, `@CemSearch`,
      `@ExhaustiveSearch`), called with the `ActionSpace`.
    use_proposal: build and train the proposal network mu(a|s).
    learning_rate: Adam learning rate of the critic.
    proposal_learning_rate: Adam learning rate of the proposal (default: `learning_rate`).
  """
  action_space = ActionSpace(action_spec)
  critic = CriticNetwork((time_step_spec.observation, action_spec))
  proposal = None
  if use_proposal:
    proposal = ProposalNetwork(action_spec, state_embedding_size=critic.state_embedding_size)
  return AqlAgent(
      time_step_spec, action_spec,
      critic_network=critic,
      search=search_fn(action_space),
      optimizer=tf.keras.optimizers.Adam(learning_rate),
      proposal_network=proposal,
      proposal_optimizer=tf.keras.optimizers.Adam(proposal_learning_rate or learning_rate),
      train_step_counter=train_step)
