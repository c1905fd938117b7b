r"""How often each action search finds the exact argmax, on critics whose argmax is known.

AQL (Van de Wiele, Warde-Farley, Mnih & Mnih, 2020, arXiv 2001.08116) claims that a proposal
trained toward the search's own argmax,

    L_mu = -log mu(a*(s) | s) - lambda H(mu(. | s)),    a*(s) = argmax over N ~ mu and M ~ U,

lets a few hundred critic evaluations find the maximum of spaces far too large to enumerate.
Here the critic is the SubActionChain reward itself (tf_aql/environments/synthetic.py, rule
'reflect'): for context t in {0..B-1}^D and a_0 := 0,

    Q(t, a) = (1/D) #{d : a_d == target_d},  target_d = t_d if a_{d-1} < B // 2 else B - 1 - t_d,

whose unique maximizer is the chain a*_1 = t_1, a*_d = target_d(a*_{d-1}), with Q(a*) = 1, and
whose mean over uniform actions is exactly 1/B. For every action space (D, B) and budget K of
Q-evaluations per state, each search runs on fresh random contexts and we report

    found = fraction of states with a_found == a*,
    gap   = (Q(a*) - Q(a_found)) / (Q(a*) - mean_a Q) = (1 - Q(a_found)) / (1 - 1/B).

Searches at budget K: uniform (M = K), amortized (N = K/5 proposal + M = 4K/5 uniform, AQL's
100:400 ratio), CEM (2 iterations x K/2 samples, 10% elites), exhaustive (|A| evaluations,
spaces up to 10^6 only). The amortized search's proposal (a `ProposalNetwork` reading the
one-hot context as its state embedding) is trained first, as AQL trains it, on a stream of random
contexts; by default once per space at the paper's N=100, M=400 and then evaluated with N = K/5
samples at every budget (`--train_per_budget` trains one proposal per budget instead).

Trained critics (`--run_dirs`): the same searches on the critic (and proposal) that a real run
learned, restored from its latest checkpoint, on states drawn from the run's environment with
random actions. The argmax of a trained critic is known by enumeration up to
`--max_exhaustive` actions; beyond that the reference a*_Q is the best candidate of every search
at every budget plus uniform and amortized searches of `--reference_budget` evaluations (and the
task's true optimum on SubActionChain), so `found` there means "matched the best known". On
SubActionChain runs the table also gives the true reward of the found action (what the
environment pays, in [0, 1]) and how often the critic scores the task's true optimum below the
action the search found (the critic's error, which no search can fix).

  .venv/bin/python bench/search_quality.py --output_json=bench/results/search_quality.json
  .venv/bin/python bench/search_quality.py --spaces= \
      --run_dirs=bench/out/learning/chain_1e10/aql_seed0,bench/out/learning/chain_1e10/uniform_ql_seed0
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import time
from typing import Callable, Dict, List, NamedTuple, Sequence, Tuple

from absl import app
from absl import flags

from tf_aql import cli  # Sets TF_CPP_MIN_LOG_LEVEL before TensorFlow is imported.

import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec

from tf_aql.action_space import ActionSpace
from tf_aql.agents import losses
from tf_aql.environments import synthetic
from tf_aql.networks.proposal_network import ProposalNetwork
from tf_aql.search import AmortizedSearch, CemSearch, ExhaustiveSearch, UniformSearch
from tf_aql.trained_run import load_trained_run

flags.DEFINE_list('spaces', ['3x10', '6x10', '10x10', '20x10'],
                  'Action spaces as DxB (D sub-actions of B values each).')
flags.DEFINE_list('budgets', ['100', '500', '2000'], 'Q-evaluations per state.')
flags.DEFINE_string('rule', 'reflect', "SubActionChain target rule: 'reflect' or 'add'.")
flags.DEFINE_integer('batch_size', 64, 'Contexts (states) per search call and per train step.')
flags.DEFINE_integer('eval_batches', 4, 'Fresh context batches evaluated per space.')
flags.DEFINE_integer('train_steps', 500, 'Proposal training steps (Adam) per proposal.')
flags.DEFINE_float('learning_rate', 1e-2, 'Adam learning rate of the proposal.')
flags.DEFINE_float('entropy_weight', 0.01, 'lambda of the proposal loss.')
flags.DEFINE_integer('hidden_size', 256, 'ProposalNetwork.hidden_size (AQL default 256).')
flags.DEFINE_integer('train_budget', 500, 'Budget of the search the proposal is trained with '
                     '(unless --train_per_budget).')
flags.DEFINE_bool('train_per_budget', False, 'Train one proposal per (space, budget).')
flags.DEFINE_integer('max_exhaustive', 1_000_000, 'Largest space searched exhaustively.')
flags.DEFINE_integer('seed', 0, 'TF global seed.')
flags.DEFINE_integer('plot_budget', 500, 'Budget whose results are plotted.')
flags.DEFINE_string('figure', 'docs/figures/search_quality.png', 'Plot path ("" to skip).')
flags.DEFINE_string('output_json', None, 'Optional path for all results as JSON.')
flags.DEFINE_list('run_dirs', [], 'Run folders whose trained critic (and proposal, if any) are '
                  'searched too, on states of their own environment (see "Trained critics").')
flags.DEFINE_integer('reference_budget', 20_000, 'Trained critics on spaces too large to '
                     'enumerate: evaluations of the extra uniform and amortized searches whose '
                     'best candidate joins the reference argmax.')
FLAGS = flags.FLAGS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEARCHES = ('uniform', 'amortized', 'cem', 'exhaustive')


# --- the known critic -----------------------------------------------------------------------


def chain_score_fn(contexts: tf.Tensor, num_values: int, rule: str) -> Callable:
  """Q(t, a) = chain reward: candidates int32 [B, K, D] -> [B, K], contexts int32 [B, D]."""

  def score(candidate_actions):
    context = contexts[:, tf.newaxis, :]  # [B, 1, D]
    previous = tf.concat([tf.zeros_like(candidate_actions[..., :1]),
                          candidate_actions[..., :-1]], axis=-1)  # [B, K, D], a_0 = 0
    if rule == 'reflect':
      targets = tf.where(previous < num_values // 2, context, num_values - 1 - context)
    else:
      targets = (context + previous) % num_values
    return tf.reduce_mean(tf.cast(tf.equal(candidate_actions, targets), tf.float32), axis=-1)
  return score


def optimal_actions(contexts: np.ndarray, num_values: int, rule: str) -> np.ndarray:
  """The chain a*_1 = t_1, a*_d = target_d(a*_{d-1}): int [B, D] from contexts int [B, D]."""
  actions = np.zeros_like(contexts)
  previous = np.zeros(contexts.shape[0], dtype=contexts.dtype)
  for d in range(contexts.shape[1]):
    actions[:, d] = previous = synthetic.chain_targets(contexts[:, d], previous, num_values,
                                                       rule)
  return actions


def check_critic(num_dims: int, num_values: int, rule: str) -> None:
  """The TF critic equals synthetic.chain_rewards, and Q(a*) = 1 (fails loudly otherwise)."""
  rng = np.random.default_rng(0)
  contexts = rng.integers(0, num_values, [4, num_dims])
  actions = rng.integers(0, num_values, [4, 7, num_dims])
  score = chain_score_fn(tf.constant(contexts, tf.int32), num_values, rule)
  expected = np.stack([synthetic.chain_rewards(c, a, num_values, rule)
                       for c, a in zip(contexts, actions)])
  np.testing.assert_allclose(score(tf.constant(actions, tf.int32)).numpy(), expected, atol=1e-6)
  best = optimal_actions(contexts, num_values, rule)[:, np.newaxis, :]
  np.testing.assert_allclose(score(tf.constant(best, tf.int32)).numpy(), 1.0)


# --- searches and the proposal --------------------------------------------------------------


def make_space(num_dims: int, num_values: int) -> Tuple[ActionSpace, object]:
  spec = tensor_spec.BoundedTensorSpec([num_dims], tf.int32, 0, num_values - 1)
  return ActionSpace(spec), spec


def make_searches(space: ActionSpace, budget: int) -> Dict[str, object]:
  num_proposal = budget // 5
  samples = budget // 2
  searches = {
      'uniform': UniformSearch(space, num_uniform_samples=budget),
      'amortized': AmortizedSearch(space, num_proposal_samples=num_proposal,
                                   num_uniform_samples=budget - num_proposal),
      'cem': CemSearch(space, num_iterations=2, num_samples=samples,
                       num_elites=max(1, round(0.1 * samples))),
  }
  return searches


def one_hot_contexts(contexts: tf.Tensor, num_values: int) -> tf.Tensor:
  """The state embedding the proposal reads: one-hot contexts [B, D * B] (the env's obs)."""
  one_hot = tf.one_hot(contexts, num_values, dtype=tf.float32)  # [B, D, B]
  return tf.reshape(one_hot, [tf.shape(contexts)[0], -1])


def random_contexts(num_dims: int, num_values: int) -> tf.Tensor:
  return tf.random.uniform([FLAGS.batch_size, num_dims], maxval=num_values, dtype=tf.int32)


def train_proposal(space: ActionSpace, spec, num_dims: int, num_values: int,
                   budget: int) -> Tuple[ProposalNetwork, Dict]:
  """Trains mu toward the amortized search's argmax (AQL's proposal loss) on random contexts."""
  network = ProposalNetwork(spec, state_embedding_size=num_dims * num_values,
                            hidden_size=FLAGS.hidden_size)
  network.create_variables()
  optimizer = tf.keras.optimizers.Adam(FLAGS.learning_rate)
  search = make_searches(space, budget)['amortized']

  @tf.function
  def train_step():
    contexts = random_contexts(num_dims, num_values)  # [B, D]
    score = chain_score_fn(contexts, num_values, FLAGS.rule)
    with tf.GradientTape() as tape:
      proposal, _ = network(one_hot_contexts(contexts, num_values))
      best = search(score, FLAGS.batch_size, proposal=proposal)
      loss = losses.proposal_loss(proposal.log_prob(tf.stop_gradient(best.best_actions)),
                                  proposal.entropy(), FLAGS.entropy_weight)
    variables = network.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return tf.reduce_mean(best.best_q_values), tf.reduce_mean(best.from_proposal)

  start = time.perf_counter()
  best_q, from_proposal = None, None
  for _ in range(FLAGS.train_steps):
    best_q, from_proposal = train_step()
  info = {'train_seconds': time.perf_counter() - start, 'final_train_best_q': float(best_q),
          'final_train_from_proposal': float(from_proposal), 'train_budget': budget}
  return network, info


# --- evaluation -----------------------------------------------------------------------------


def evaluate(search, contexts: tf.Tensor, num_values: int,
             network: ProposalNetwork = None) -> Tuple[np.ndarray, np.ndarray]:
  """(found [B] bool, gap [B]) of one search on one batch of contexts."""
  score = chain_score_fn(contexts, num_values, FLAGS.rule)
  proposal = None
  if getattr(search, 'uses_proposal', False):
    proposal, _ = network(one_hot_contexts(contexts, num_values))
  best = search(score, tf.shape(contexts)[0], proposal=proposal)
  optimum = optimal_actions(contexts.numpy(), num_values, FLAGS.rule)
  found = np.all(best.best_actions.numpy() == optimum, axis=-1)
  gap = (1.0 - best.best_q_values.numpy()) / (1.0 - 1.0 / num_values)
  return found, gap


def evaluate_space(num_dims: int, num_values: int, budgets: Sequence[int]) -> List[Dict]:
  """Rows {space, budget, search, found, gap, ...} for one action space."""
  check_critic(num_dims, num_values, FLAGS.rule)
  space, spec = make_space(num_dims, num_values)
  num_actions = space.num_actions
  eval_contexts = [random_contexts(num_dims, num_values) for _ in range(FLAGS.eval_batches)]
  rows = []
  shared, shared_info = None, None
  if not FLAGS.train_per_budget:
    shared, shared_info = train_proposal(space, spec, num_dims, num_values, FLAGS.train_budget)
  for budget in budgets:
    network, info = shared, shared_info
    if FLAGS.train_per_budget:
      network, info = train_proposal(space, spec, num_dims, num_values, budget)
    for name, search in make_searches(space, budget).items():
      rows.append(_row(name, search, eval_contexts, num_dims, num_values, num_actions, budget,
                       network, info if name == 'amortized' else None))
  if num_actions <= FLAGS.max_exhaustive:
    search = ExhaustiveSearch(space, max_num_actions=FLAGS.max_exhaustive)
    rows.append(_row('exhaustive', search, eval_contexts, num_dims, num_values, num_actions,
                     num_actions, None, None))
  return rows


def _row(name, search, eval_contexts, num_dims, num_values, num_actions, budget, network,
         info) -> Dict:
  start = time.perf_counter()
  results = [evaluate(search, c, num_values, network) for c in eval_contexts]
  found = np.concatenate([f for f, _ in results])
  gap = np.concatenate([g for _, g in results])
  row = {'space': f'{num_dims}x{num_values}', 'num_actions': float(num_actions),
         'budget': int(budget), 'search': name, 'found': float(found.mean()),
         'gap': float(gap.mean()), 'num_states': int(found.size),
         'eval_seconds': time.perf_counter() - start,
         'uniform_closed_form': float(-np.expm1(budget * np.log1p(-1.0 / num_actions)))}
  if info:
    row.update(info)
  return row


# --- trained critics -------------------------------------------------------------------------


def random_observations(env, num_states: int, seed: int = 0):
  """Observations [S, ...] of `env` visited with uniformly random actions."""
  from tf_agents.specs import array_spec  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(seed)  # the generator type array_spec samples with
  observations = [env.reset().observation]
  while len(observations) < num_states:
    time_step = env.step(array_spec.sample_bounded_spec(env.action_spec(), rng))
    observations.append(time_step.observation)
  return tf.nest.map_structure(lambda *xs: tf.constant(np.stack(xs)), *observations)


def chain_contexts(run, observations):
  """(contexts int32 [S, D], B, rule) of a SubActionChain run, or None for other tasks."""
  if synthetic.DISCRETE_ENV_NAME not in run.settings.env_name:
    return None
  space = run.state.agent.search.action_space
  num_values = int(space.max_num_values)
  one_hot = tf.reshape(observations, [-1, space.num_dims, num_values])
  return (tf.argmax(one_hot, axis=-1, output_type=tf.int32), num_values,
          run.env_kwargs.get('rule', 'reflect'))


class TrainedSearches(NamedTuple):
  """Every search on a trained critic, for S states (see `search_trained_critic`).

  Attributes:
    found: {(search, budget): (best actions [S, D], best Q [S])}.
    mean_q: [S], mean_a Q over 1,000 uniform actions.
    reference_q: [S], Q of the reference argmax (see `reference_q_values`).
    optimum_q: [S], Q of the task's true optimum (SubActionChain), else `reference_q`.
  """
  found: Dict
  mean_q: tf.Tensor
  reference_q: tf.Tensor
  optimum_q: tf.Tensor


def concat_searches(parts: Sequence[TrainedSearches]) -> TrainedSearches:
  """Joins the results of consecutive batches of states."""
  found = {key: tuple(tf.concat([p.found[key][i] for p in parts], 0) for i in range(2))
           for key in parts[0].found}
  return TrainedSearches(found, *(tf.concat([getattr(p, field) for p in parts], 0)
                                  for field in ('mean_q', 'reference_q', 'optimum_q')))


def trained_run_rows(run_dir: str, budgets: Sequence[int]) -> List[Dict]:
  """Rows {run, budget, search, found, gap, ...} for the critic of one run folder."""
  run = load_trained_run(run_dir)
  agent = run.state.agent
  space = agent.search.action_space
  num_states = FLAGS.batch_size * FLAGS.eval_batches
  observations = random_observations(run.env, num_states)
  chain = chain_contexts(run, observations)
  optimum = None  # [S, D], the true optimal actions of a SubActionChain run
  if chain is not None:
    contexts, num_values, rule = chain
    optimum = tf.constant(optimal_actions(contexts.numpy(), num_values, rule), tf.int32)
  parts = []
  for start in range(0, num_states, FLAGS.batch_size):
    batch = slice(start, start + FLAGS.batch_size)
    parts.append(search_trained_critic(
        agent, space, tf.nest.map_structure(lambda x, b=batch: x[b], observations), budgets,
        None if optimum is None else optimum[batch]))
  searches = concat_searches(parts)
  rows = []
  for (name, budget), (actions, q_values) in searches.found.items():
    row = {'run': run_dir, 'env': run.settings.env_name, 'num_actions': float(space.num_actions),
           'budget': int(budget), 'search': name,
           'found': float(np.mean(q_values.numpy() >= searches.reference_q.numpy() - 1e-6)),
           'gap': float(np.mean(normalized_gap(searches.reference_q, q_values,
                                               searches.mean_q))),
           'num_states': int(q_values.shape[0]),
           'reference': 'exhaustive' if space.num_actions <= FLAGS.max_exhaustive else
                        'best known'}
    if chain is not None:
      true_reward = chain_score_fn(*chain)(actions[:, tf.newaxis])[:, 0]
      row['true_reward'] = float(tf.reduce_mean(true_reward))
      row['critic_prefers_found'] = float(np.mean(
          searches.optimum_q.numpy() < q_values.numpy() - 1e-6))
    rows.append(row)
  return rows


def search_trained_critic(agent, space: ActionSpace, observations, budgets: Sequence[int],
                          optimum: tf.Tensor = None) -> TrainedSearches:
  """Every search at every budget on one batch of states of a trained agent.

  Args:
    agent: the restored `AqlAgent`.
    space: its `ActionSpace`.
    observations: a batch of B observations.
    budgets: Q-evaluations per state.
    optimum: optional [B, D], the task's true optimal actions (SubActionChain).
  """
  critic = agent.critic_network
  embedding = critic.embed(observations, None)  # [B, E]
  batch_size = tf.shape(embedding)[0]
  score = lambda candidates: critic.score(embedding, candidates)  # [B, K, D] -> [B, K]
  proposal = None
  if agent.proposal_network is not None:
    proposal, _ = agent.proposal_network(embedding)
  found = {}
  for budget in budgets:
    for name, search in make_searches(space, budget).items():
      if search.uses_proposal and proposal is None:
        continue
      best = search(score, batch_size, proposal=proposal)
      found[(name, budget)] = (best.best_actions, best.best_q_values)
  mean_q = tf.reduce_mean(score(space.sample_uniform([batch_size, 1000])), axis=1)  # [B]
  reference_q = reference_q_values(space, score, batch_size, proposal,
                                   [actions for actions, _ in found.values()], optimum)
  optimum_q = reference_q if optimum is None else score(optimum[:, tf.newaxis])[:, 0]
  return TrainedSearches(found, mean_q, reference_q, optimum_q)


def reference_q_values(space: ActionSpace, score: Callable, batch_size, proposal,
                       candidates: List[tf.Tensor], optimum: tf.Tensor = None) -> tf.Tensor:
  """Q [B] of the critic's argmax by enumeration when the space allows it, else of the best
  known action among `candidates` ([B, D] each), `optimum` and extra `--reference_budget`
  searches."""
  if space.num_actions <= FLAGS.max_exhaustive:
    best = ExhaustiveSearch(space, max_num_actions=FLAGS.max_exhaustive)(score, batch_size)
    return best.best_q_values
  searches = [UniformSearch(space, num_uniform_samples=FLAGS.reference_budget)]
  if proposal is not None:
    searches.append(AmortizedSearch(space, num_proposal_samples=FLAGS.reference_budget // 2,
                                    num_uniform_samples=FLAGS.reference_budget // 2))
  candidates = candidates + [s(score, batch_size, proposal=proposal).best_actions
                             for s in searches]
  if optimum is not None:
    candidates.append(optimum)
  stacked = tf.stack(candidates, axis=1)  # [B, C, D]
  return tf.reduce_max(score(stacked), axis=1)


def normalized_gap(reference_q: tf.Tensor, found_q: tf.Tensor, mean_q: tf.Tensor) -> np.ndarray:
  """(Q(a*) - Q(found)) / (Q(a*) - mean_a Q), per state [S]."""
  return ((reference_q - found_q) / tf.maximum(reference_q - mean_q, 1e-8)).numpy()


# --- output ---------------------------------------------------------------------------------


def markdown_table(rows: Sequence[Dict]) -> str:
  header = ['space (DxB)', '|A|', 'budget', 'search', 'exact argmax found', 'normalized gap',
            'uniform, closed form', 'states']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for r in rows:
    closed = f'{r["uniform_closed_form"]:.3g}' if r['search'] == 'uniform' else ''
    lines.append(f'| {r["space"]} | {r["num_actions"]:.0e} | {r["budget"]} | {r["search"]} | '
                 f'{r["found"]:.3f} | {r["gap"]:.3f} | {closed} | {r["num_states"]} |')
  return '\n'.join(lines)


def training_table(rows: Sequence[Dict]) -> str:
  lines = ['| space | proposal trained at budget | steps | seconds | last train mean Q(a*) | '
           'last train best-from-proposal |', '|---|---|---|---|---|---|']
  seen = set()
  for r in rows:
    key = (r['space'], r.get('train_budget'))
    if r['search'] != 'amortized' or key in seen:
      continue
    seen.add(key)
    lines.append(f'| {r["space"]} | {r["train_budget"]} | {FLAGS.train_steps} | '
                 f'{r["train_seconds"]:.1f} | {r["final_train_best_q"]:.3f} | '
                 f'{r["final_train_from_proposal"]:.2f} |')
  return '\n'.join(lines)


def trained_table(rows: Sequence[Dict]) -> str:
  header = ['run', '|A|', 'budget', 'search', 'reference', 'argmax found', 'normalized gap',
            'true reward of found', 'critic scores a found action above the true optimum']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for r in rows:
    true_reward = f'{r["true_reward"]:.3f}' if 'true_reward' in r else ''
    prefers = f'{r["critic_prefers_found"]:.2f}' if 'critic_prefers_found' in r else ''
    lines.append(f'| {os.path.relpath(r["run"], REPO_ROOT)} | {r["num_actions"]:.0e} | '
                 f'{r["budget"]} | {r["search"]} | {r["reference"]} | {r["found"]:.3f} | '
                 f'{r["gap"]:.3f} | {true_reward} | {prefers} |')
  return '\n'.join(lines)


def plot(rows: Sequence[Dict], budget: int, path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  figure, axis = plt.subplots(figsize=(6, 4))
  for name in SEARCHES:
    points = sorted((r['num_actions'], r['found']) for r in rows if r['search'] == name and (
        r['budget'] == budget or name == 'exhaustive'))
    if points:
      label = name if name != 'exhaustive' else 'exhaustive (|A| evaluations)'
      axis.plot(*zip(*points), marker='o', label=label)
  axis.set_xscale('log')
  axis.set_ylim(-0.03, 1.03)
  axis.set_xlabel('joint actions |A| (SubActionChain, B = 10)')
  axis.set_ylabel('fraction of states with the exact argmax')
  axis.set_title(f'Search quality at {budget} Q-evaluations per state')
  axis.grid(True, alpha=0.3)
  axis.legend()
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  figure.savefig(path, dpi=120)


def target_line(rows: Sequence[Dict]) -> str:
  """The issue's target: amortized @500 finds a* on >= 95% of states at ~10^6 actions."""
  near = [r for r in rows if r['budget'] == 500 and 1e5 <= r['num_actions'] <= 1e7]
  amortized = [r for r in near if r['search'] == 'amortized']
  uniform = [r for r in near if r['search'] == 'uniform']
  if not amortized or not uniform:
    return 'Target not evaluated (no space of about 10^6 actions at budget 500).'
  a, u = amortized[0], uniform[0]
  met = a['found'] >= 0.95 and u['found'] < a['found']
  return (f'Target (amortized @500 finds the exact argmax on >= 95% of states of a ~10^6-action '
          f'task, uniform @500 on far fewer): {a["space"]}: amortized {a["found"]:.3f}, '
          f'uniform {u["found"]:.3f} -> {"met" if met else "NOT met"}.')


def main(argv):
  del argv
  cli.quiet_logs()
  tf.random.set_seed(FLAGS.seed)
  started = time.time()
  load = os.getloadavg()
  print(f'# bench/search_quality.py\n\n{time.strftime("%Y-%m-%d %H:%M")}; start load average '
        f'{load[0]:.2f} on {os.cpu_count()} CPUs\n')
  budgets = [int(b) for b in FLAGS.budgets]
  rows, trained_rows, line = [], [], ''
  for space in FLAGS.spaces:
    num_dims, num_values = (int(x) for x in space.split('x'))
    rows += evaluate_space(num_dims, num_values, budgets)
  for run_dir in FLAGS.run_dirs:
    trained_rows += trained_run_rows(run_dir, budgets)
  if rows:
    print(markdown_table(rows) + '\n')
    print('Proposal training:\n\n' + training_table(rows) + '\n')
    line = target_line(rows)
    print(line)
  if trained_rows:
    print('\nTrained critics:\n\n' + trained_table(trained_rows) + '\n')
  if FLAGS.figure and rows:
    path = os.path.join(REPO_ROOT, FLAGS.figure) if not os.path.isabs(FLAGS.figure) else (
        FLAGS.figure)
    plot(rows, FLAGS.plot_budget, path)
    print(f'Figure: {FLAGS.figure}')
  print(f'wall time {time.time() - started:.0f} s; end load average {os.getloadavg()[0]:.2f}')
  if FLAGS.output_json:
    with open(FLAGS.output_json, 'w') as f:
      json.dump({'rows': rows, 'trained_rows': trained_rows, 'target': line,
                 'flags': FLAGS.flag_values_dict()}, f, indent=1, default=str)


if __name__ == '__main__':
  app.run(main)
