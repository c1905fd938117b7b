r"""How well trained critics rank actions, and how noisy their TD targets are (SubActionChain).

On SubActionChain (tf_aql/environments/synthetic.py) the reward r(t, a) of context t and action a
is known exactly and the next context does not depend on the action, so for any policy

    Q(t, a) = r(t, a) + c,    c = gamma E_{t'}[V(t')]  (the same constant for every t and a).

A critic's error splits into a per-state level error and an action error within a state. For each
run folder (its latest checkpoint, restored with `tf_aql.trained_run`) and S random contexts:

- greedy reward: mean r(t, a*) of the search's argmax a*(t) (what the greedy policy earns per step);
- level std: the std over contexts of mean_a [Q(t, a) - r(t, a)] over K uniform actions (0 for a
  perfect critic);
- action error: the within-context std of Q(t, a) - r(t, a) - level(t), averaged over contexts,
  beside the within-context std of r(t, a) itself (the signal the critic must resolve);
- correlation: the within-context correlation of Q(t, a) and r(t, a), averaged;
- target noise: the std over next contexts t' of the bootstrap term of the TD target,
  gamma min_i Q_target_i(t', a*(t')) (the agent's own `_next_q_values`). With gamma = 0 the
  targets are the rewards and carry no noise; with gamma > 0 every target carries this noise,
  because t' is drawn afresh;
- its part a perfect critic keeps: gamma times the std over t' of r(t', a*(t')), the true
  spread of the greedy policy's values (the rest is the critic's own error at t').

  .venv/bin/python bench/critic_errors.py --run_dirs=bench/out/g99/chain_1e5_gamma099/aql_seed0 \
      --output_md=bench/results/critic_errors.md
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top,g-bad-import-order
from absl import flags

from tf_aql import cli  # pylint: disable=unused-import  # Sets TF_CPP_MIN_LOG_LEVEL first.

import numpy as np
import tensorflow as tf
from tf_agents.trajectories import time_step as ts

from tf_aql.environments.synthetic import chain_rewards
from tf_aql.policies.search_policy import proposal_and_argmax
from tf_aql.trained_run import load_trained_run

flags.DEFINE_list('run_dirs', [], 'SubActionChain run folders (each with a checkpoint).')
flags.DEFINE_integer('num_states', 500, 'S, random contexts per run.')
flags.DEFINE_integer('num_actions', 200, 'K, uniform actions per context.')
flags.DEFINE_integer('seed', 0, 'Seed of the contexts and actions.')
flags.DEFINE_string('output_md', None, 'Also write the table to this markdown file.')
FLAGS = flags.FLAGS

COLUMNS = ('run', 'gamma', 'value offset', 'greedy reward', 'level std', 'action error',
           'reward std within a state', 'correlation', 'target noise',
           'target noise of a perfect critic')


def run_row(root_dir: str, rng: np.random.Generator) -> dict:
  """The table's row of one run folder."""
  run = load_trained_run(root_dir)
  agent = run.state.agent
  num_dims, num_values = run.env_kwargs['num_sub_actions'], run.env_kwargs['num_values']
  contexts = rng.integers(0, num_values, size=[FLAGS.num_states, num_dims])  # [S, D]
  observation = tf.constant(
      np.eye(num_values, dtype=np.float32)[contexts].reshape([FLAGS.num_states, -1]))
  step_type = tf.fill([FLAGS.num_states], ts.StepType.MID)
  critic = agent.critic_network
  embedding = critic.embed(observation, step_type)  # [S, E]
  _, best = proposal_and_argmax(agent.search, critic, embedding, agent.proposal_network,
                                embedding, training=False)
  greedy = best.best_actions.numpy().astype(np.int64)  # [S, D]
  greedy_rewards = np.array([chain_rewards(c, a, num_values) for c, a in zip(contexts, greedy)])
  offset = float(agent._value_offset.numpy())  # pylint: disable=protected-access
  actions = rng.integers(0, num_values, size=[FLAGS.num_states, FLAGS.num_actions, num_dims])
  q_values = critic.score(embedding, tf.cast(actions, best.best_actions.dtype)).numpy() + offset
  rewards = np.stack([chain_rewards(c, a, num_values) for c, a in zip(contexts, actions)])
  errors = q_values - rewards  # [S, K]
  level = errors.mean(axis=1)  # [S]
  gamma = float(agent._gamma)  # pylint: disable=protected-access
  target_noise = 0.0
  if gamma > 0:
    next_steps = ts.TimeStep(step_type, tf.zeros([FLAGS.num_states]),
                             tf.ones([FLAGS.num_states]), observation)
    next_q_values, _ = agent._next_q_values(next_steps)  # pylint: disable=protected-access
    target_noise = gamma * float(np.std(next_q_values.numpy()))
  return {
      'run': os.path.basename(os.path.normpath(root_dir)),
      'gamma': gamma,
      'value offset': offset,
      'greedy reward': float(greedy_rewards.mean()),
      'level std': float(level.std()),
      'action error': float((errors - level[:, None]).std(axis=1).mean()),
      'reward std within a state': float(rewards.std(axis=1).mean()),
      'correlation': float(np.mean([np.corrcoef(q, r)[0, 1]
                                         for q, r in zip(q_values, rewards)])),
      'target noise': target_noise,
      'target noise of a perfect critic': gamma * float(greedy_rewards.std()),
  }


def table(rows) -> str:
  lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
  for row in rows:
    lines.append('| ' + ' | '.join(
        row[c] if isinstance(row[c], str) else f'{row[c]:.3f}' for c in COLUMNS) + ' |')
  return '\n'.join(lines)


def main(argv):
  del argv
  if not FLAGS.run_dirs:
    raise app.UsageError('Give --run_dirs: SubActionChain run folders with a checkpoint.')
  rng = np.random.default_rng(FLAGS.seed)
  text = table([run_row(d, rng) for d in FLAGS.run_dirs])
  print(text)
  if FLAGS.output_md:
    with open(FLAGS.output_md, 'w') as f:
      f.write(f'Command: `.venv/bin/python bench/critic_errors.py {" ".join(sys.argv[1:])}`\n\n{text}\n')


if __name__ == '__main__':
  app.run(main)
