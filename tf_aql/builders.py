"""`make_*` factories shared by every entry point (train_eval and the distributed roles).

Code supplies the specs, gin supplies the sizes: each factory takes the environment's specs and
reads its hyper-parameters from gin bindings (see `gin/base.gin`).
"""

from typing import Callable, Optional, Sequence

import gin
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.agents.ddpg import actor_network as ddpg_actor_network
from tf_agents.agents.ddpg import critic_network as ddpg_critic_network
from tf_agents.agents.ddpg import ddpg_agent
from tf_agents.agents.sac import sac_agent
from tf_agents.agents.sac import tanh_normal_projection_network
from tf_agents.networks import actor_distribution_network
from tf_agents.policies import greedy_policy as greedy_policy_lib
from tf_agents.policies import tf_policy
from tf_agents.typing import types

from tf_aql.action_space import ActionSpace, UnsupportedActionSpecError
from tf_aql.agents.aql_agent import AqlAgent
from tf_aql.agents.impala_agent import ImpalaAgent
from tf_aql.networks.critic_network import CriticNetwork
from tf_aql.networks.policy_value_network import PolicyValueNetwork
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
      proposal_optimizer=(tf.keras.optimizers.Adam(proposal_learning_rate or learning_rate)
                          if proposal is not None else None),
      train_step_counter=train_step)


def _require_continuous(action_spec: types.BoundedTensorSpec, method: str) -> None:
  """DDPG and SAC act in one bounded Box only; say so before anything is built."""
  space = ActionSpace(action_spec)
  if space.is_discrete or space.is_hybrid or len(tf.nest.flatten(action_spec)) > 1:
    raise UnsupportedActionSpecError(
        f'{method} needs a continuous (Box) action space, but this environment has '
        f'{space.describe()}; use gin/methods/aql.gin, uniform_ql.gin or qt_opt.gin for '
        'discrete, Dict and Tuple actions.')


@gin.configurable
def make_ddpg_agent(time_step_spec: types.TimeStep, action_spec: types.BoundedTensorSpec,
                    train_step: tf.Variable,
                    actor_fc_layer_params: Sequence[int] = (400, 300),
                    critic_observation_fc_layer_params: Sequence[int] = (400,),
                    critic_joint_fc_layer_params: Sequence[int] = (300,),
                    actor_learning_rate: float = 1e-4,
                    critic_learning_rate: float = 1e-3) -> tf_agent.TFAgent:
  """TF-Agents' DDPG (Lillicrap et al., 2015); other values via `DdpgAgent.*` bindings."""
  _require_continuous(action_spec, 'DDPG')
  actor = ddpg_actor_network.ActorNetwork(time_step_spec.observation, action_spec,
                                          fc_layer_params=tuple(actor_fc_layer_params))
  critic = ddpg_critic_network.CriticNetwork(
      (time_step_spec.observation, action_spec),
      observation_fc_layer_params=tuple(critic_observation_fc_layer_params),
      joint_fc_layer_params=tuple(critic_joint_fc_layer_params))
  return ddpg_agent.DdpgAgent(
      time_step_spec, action_spec, actor_network=actor, critic_network=critic,
      actor_optimizer=tf.keras.optimizers.Adam(actor_learning_rate),
      critic_optimizer=tf.keras.optimizers.Adam(critic_learning_rate),
      train_step_counter=train_step)


@gin.configurable
def make_sac_agent(time_step_spec: types.TimeStep, action_spec: types.BoundedTensorSpec,
                   train_step: tf.Variable,
                   actor_fc_layer_params: Sequence[int] = (256, 256),
                   critic_joint_fc_layer_params: Sequence[int] = (256, 256),
                   learning_rate: float = 3e-4) -> tf_agent.TFAgent:
  """TF-Agents' SAC (Haarnoja et al., 2018); other values via `SacAgent.*` bindings."""
  _require_continuous(action_spec, 'SAC')
  actor = actor_distribution_network.ActorDistributionNetwork(
      time_step_spec.observation, action_spec, fc_layer_params=tuple(actor_fc_layer_params),
      continuous_projection_net=tanh_normal_projection_network.TanhNormalProjectionNetwork)
  critic = ddpg_critic_network.CriticNetwork(
      (time_step_spec.observation, action_spec),
      joint_fc_layer_params=tuple(critic_joint_fc_layer_params),
      kernel_initializer='glorot_uniform', last_kernel_initializer='glorot_uniform')
  return sac_agent.SacAgent(
      time_step_spec, action_spec, actor_network=actor, critic_network=critic,
      actor_optimizer=tf.keras.optimizers.Adam(learning_rate),
      critic_optimizer=tf.keras.optimizers.Adam(learning_rate),
      alpha_optimizer=tf.keras.optimizers.Adam(learning_rate),
      train_step_counter=train_step)


@gin.configurable
def make_impala_agent(time_step_spec: types.TimeStep, action_spec: types.BoundedTensorSpec,
                      train_step: tf.Variable,
                      learning_rate: float = 3e-4) -> ImpalaAgent:
  """IMPALA (Espeholt et al., 2018): V-trace actor-critic on unrolls [B, T+1] (not n-step
  transitions); sizes via `PolicyValueNetwork.*`, the rest via `ImpalaAgent.*` bindings.

  Args:
    time_step_spec: the environment's time-step spec (tensor specs).
    action_spec: the environment's action spec (Discrete, MultiDiscrete or bounded Box).
    train_step: the train-step counter variable.
    learning_rate: Adam learning rate of the policy-value network.
  """
  network = PolicyValueNetwork(time_step_spec.observation, action_spec)
  return ImpalaAgent(time_step_spec, action_spec, policy_value_network=network,
                     optimizer=tf.keras.optimizers.Adam(learning_rate),
                     train_step_counter=train_step)


def greedy_policy(agent: tf_agent.TFAgent) -> tf_policy.TFPolicy:
  """The policy to evaluate and export as `greedy`: SAC's actor mean, else `agent.policy`."""
  if isinstance(agent, sac_agent.SacAgent):
    return greedy_policy_lib.GreedyPolicy(agent.policy)
  return agent.policy
