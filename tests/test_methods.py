"""Every shipped gin file builds, and every method trains on every action kind it supports."""
import glob
import os

import gin
import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from tf_agents.specs import tensor_spec
from tf_agents.train.utils import train_utils

from tf_aql import builders
from tf_aql import cli
from tf_aql.environments import suite_gymnasium
from tf_aql.errors import TfAqlError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = sorted(glob.glob(os.path.join(REPO, 'gin', 'methods', '*.gin')))
ENVS = sorted(glob.glob(os.path.join(REPO, 'gin', 'envs', '*.gin')))
DISCRETE_ONLY_BAD = ('ddpg.gin', 'sac.gin')
# Methods that refuse a hybrid (Dict) action, and the first words of their errors.
HYBRID_BAD = {'ddpg.gin': 'needs a continuous', 'sac.gin': 'needs a continuous',
              'impala.gin': 'needs one Discrete', 'exhaustive_dqn.gin': 'needs a discrete'}
SMALL = [
    'tf_aql.CriticNetwork.torso_fc_layer_params = (8,)',
    'tf_aql.CriticNetwork.head_fc_layer_params = (8,)',
    'ProposalNetwork.hidden_size = 8',
    'make_ddpg_agent.actor_fc_layer_params = (8,)',
    'make_ddpg_agent.critic_observation_fc_layer_params = (8,)',
    'make_ddpg_agent.critic_joint_fc_layer_params = (8,)',
    'make_sac_agent.actor_fc_layer_params = (8,)',
    'make_sac_agent.critic_joint_fc_layer_params = (8,)',
    'PolicyValueNetwork.fc_layer_params = (8,)',
]


def build(method, env_file=None, env_name=None, bindings=()):
  """Parses method (+ env) gin, loads the env, builds the agent; returns (agent, env)."""
  gin.clear_config()
  cli.parse_gin([method] + ([env_file] if env_file else []), SMALL + list(bindings))
  env_name = env_name or gin.query_parameter('train_eval.env_name')
  env = suite_gymnasium.load(env_name)
  agent = builders.make_agent(tensor_spec.from_spec(env.time_step_spec()),
                              tensor_spec.from_spec(env.action_spec()),
                              train_utils.create_train_step())
  return agent, env


def random_batch(agent, batch_size=4):
  experience = tensor_spec.sample_spec_nest(
      agent.collect_data_spec, outer_dims=[batch_size, agent.train_sequence_length or 2],
      seed=1)
  shape = experience.observation.shape
  return experience._replace(observation=tf.random.uniform(shape, -1, 1, seed=2),
                             step_type=tf.ones_like(experience.step_type),
                             reward=tf.random.uniform(experience.reward.shape, seed=3),
                             discount=tf.ones_like(experience.discount))


class GinFilesTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(*[(m, e) for m in METHODS for e in ENVS])
  def test_every_method_env_combination_builds(self, method, env_file):
    name = os.path.basename(method)
    try:
      agent, env = build(method, env_file)
    except TfAqlError as error:
      if 'hybrid' in env_file:  # DDPG, SAC, IMPALA and exhaustive search refuse Dict actions
        self.assertRegex(str(error).splitlines()[0], HYBRID_BAD.get(name, 'not refused'))
        return
      # The only refusals: DDPG/SAC on discrete actions, exhaustive search on big spaces.
      discrete = ('chain_1e' in env_file or 'discretized' in env_file)
      self.assertTrue((name in DISCRETE_ONLY_BAD and discrete) or
                      name == 'exhaustive_dqn.gin', f'{name} + {env_file}: {error}')
      # gin appends 'In call to configurable ...' lines; the CLI prints the first line only.
      self.assertRegex(str(error).splitlines()[0], 'needs a continuous|needs a discrete|exceed the limit')
      return
    self.assertIsNotNone(agent.policy)
    env.close()


ACTION_KINDS = {
    'discrete': ('tf_aql/SubActionChain-v0',
                 "suite_gymnasium.load.env_kwargs = {'num_sub_actions': 3, 'num_values': 3}"),
    'continuous': ('tf_aql/ContinuousChain-v0',
                   "suite_gymnasium.load.env_kwargs = {'num_sub_actions': 2}"),
    'hybrid': ('tf_aql/HybridChain-v0',
               "suite_gymnasium.load.env_kwargs = {'num_choices': 2, 'num_values': 3, "
               "'num_params': 2}"),
}


class MethodsTrainTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(*[(m, k) for m in METHODS for k in ACTION_KINDS])
  def test_method_trains_a_few_steps(self, method, kind):
    env_name, kwargs = ACTION_KINDS[kind]
    if kind == 'hybrid' and os.path.basename(method) in HYBRID_BAD:
      with self.assertRaisesRegex(TfAqlError, HYBRID_BAD[os.path.basename(method)]):
        build(method, env_name=env_name, bindings=[kwargs])
      return
    if kind == 'discrete' and os.path.basename(method) in DISCRETE_ONLY_BAD:
      with self.assertRaisesRegex(TfAqlError, 'needs a continuous'):
        build(method, env_name=env_name, bindings=[kwargs])
      return
    if kind == 'continuous' and os.path.basename(method) == 'exhaustive_dqn.gin':
      with self.assertRaisesRegex(TfAqlError, 'discrete'):
        build(method, env_name=env_name, bindings=[kwargs])
      return
    agent, env = build(method, env_name=env_name, bindings=[kwargs])
    experience = random_batch(agent)
    losses = [float(agent.train(experience).loss) for _ in range(3)]
    self.assertTrue(np.all(np.isfinite(losses)), losses)
    self.assertEqual(int(agent.train_step_counter.numpy()), 3)
    env.close()


if __name__ == '__main__':
  tf.test.main()
