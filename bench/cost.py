r"""Compute cost of AQL and its baselines, measured side by side in one process.

AQL (Van de Wiele, Warde-Farley, Mnih & Mnih, 2020, arXiv 2001.08116) pays for its proposal
with D sequential sampling steps on top of the B x (N + M) candidate scoring that every
sampling-based Q-learner pays. This script measures, at batch 64 and the shipped widths
(critic torso (256,), head (256, 256), proposal hidden 256):

  1. learner steps/s of AQL (N=100, M=400, the proposal trained at s', one search per step;
     'aql_paper': the paper's form, trained at s with a second search; 'aql_prefix32' / 'aql_prefix128': the proposal's per-sample prefix stream at
     width 32 / 128 instead of 64; 'aql_dedup': repeated proposal samples replaced by uniform
     ones; '*_one_critic': without the default clipped double-Q; 'aql_search8' / '16' / '32':
     the proposal's own search at 8 / 16 / all states of the batch, which matters where that
     search runs, with `--gamma=0` or in the paper's form), UniformQL (M=500), QT-Opt (CEM 2x64
     and 2x250), DDPG and SAC (continuous only), round-robin over repeats so load drift hits all
     alike;
  2. the parts of an AQL step: one scoring pass critic.score [64, 500, D], proposal sampling
     (100 samples x 64 states), proposal log-prob + entropy, a full amortized search;
  3. FLOP/s of candidate scoring against a plain fp32 (and bf16) 4096^2 matmul in the same run:
       FLOPs(score [B, K, D]) = 2 B E H_1                      (state projection, once per state)
                              + 2 B K F H_1                    (action projection, F features)
                              + sum_i 2 B K H_i H_{i+1} + 2 B K H_last   (head MLP and Q layer);
     for discrete actions the action projection is a gather-sum of D kernel rows (no one-hot
     matmul), still counted as the F = D*V matmul it equals: an effective rate. The one-hot
     path is timed beside it ('one-hot first layer (reference)');
  4. acting latency of the exported greedy policy (PolicySaver -> tf.saved_model.load);
  5. environment steps/s of collection (TF-Agents Actor + PyTFEagerPolicy(use_tf_function));
  6. peak RSS per method, each in its own subprocess (`--memory_probe=TASK:METHOD`).

  .venv/bin/python bench/cost.py --output_json=bench/results/cost_<what_changed>.json

Ratios are meaningful, absolute times drift on a shared machine: read the ratio columns.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import resource
import statistics
import subprocess
import tempfile
import time
from typing import Callable, Dict, List, Sequence, Tuple

from absl import app
from absl import flags

from tf_aql import cli  # Sets TF_CPP_MIN_LOG_LEVEL before TensorFlow is imported.

import gin
import numpy as np
import tensorflow as tf
from tf_agents.policies import policy_saver
from tf_agents.policies import py_tf_eager_policy
from tf_agents.specs import tensor_spec
from tf_agents.train import actor
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import common

from tf_aql import builders
from tf_aql.agents.aql_agent import AqlAgent
from tf_aql.environments import suite_gymnasium
from tf_aql.policies.search_policy import search_argmax

flags.DEFINE_list('tasks', ['discrete', 'continuous'], 'Tasks to measure (see TASKS).')
flags.DEFINE_list('methods', ['aql', 'aql_paper', 'aql_prefix32', 'aql_prefix128', 'uniform_ql',
                               'qt_opt', 'qt_opt_budget', 'ddpg', 'sac'],
                  'Methods to measure (see METHODS); DDPG and SAC run on continuous tasks only.')
flags.DEFINE_integer('batch_size', 64, 'Sequences per learner step; states per scoring pass.')
flags.DEFINE_integer('num_sub_actions', 16, 'D of both synthetic tasks.')
flags.DEFINE_integer('num_values', 11, 'Values per sub-action of the discrete task.')
flags.DEFINE_float('gamma', None, 'Discount of every agent (None: the method files\' 0.99); '
                   '0 measures the contextual-bandit step, where only AQL searches.')
flags.DEFINE_integer('repeats', 3, 'Round-robin repeats; medians are over these.')
flags.DEFINE_integer('steps', 5, 'Learner steps timed per method and repeat.')
flags.DEFINE_integer('warmup', 2, 'Untimed learner steps per method (the first one traces).')
flags.DEFINE_integer('micro_calls', 5, 'Calls timed per micro-benchmark and repeat.')
flags.DEFINE_integer('matmul_size', 4096, 'n of the n x n x n reference matmul.')
flags.DEFINE_integer('latency_calls', 20, 'Exported-policy calls timed per batch size.')
flags.DEFINE_integer('collect_steps', 300, 'Environment steps timed per collection run.')
flags.DEFINE_list('acting_tasks', ['discrete', 'continuous'],
                  'Tasks whose policies get the latency and collection measurements.')
flags.DEFINE_list('memory_tasks', ['discrete', 'continuous'],
                  'Tasks whose methods get a peak-RSS subprocess each (empty: skip).')
flags.DEFINE_string('memory_probe', None, 'Internal: TASK:METHOD (or "baseline"); build, '
                    'train a few steps, print the peak RSS as JSON, exit.')
flags.DEFINE_string('output_json', None, 'Optional path for all measurements as JSON.')
FLAGS = flags.FLAGS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DISCRETE_ENV, CONTINUOUS_ENV = 'tf_aql/SubActionChain-v0', 'tf_aql/ContinuousChain-v0'
# method -> (gin file, extra bindings, Q-evaluations per state, discrete allowed)
METHODS = {
    'aql': ('gin/methods/aql.gin', [], 500, True),
    'aql_paper': ('gin/methods/aql.gin', ["AqlAgent.proposal_states = 'current'"], 500, True),
    'aql_prefix32': ('gin/methods/aql.gin', ['ProposalNetwork.prefix_size = 32'], 500, True),
    'aql_prefix128': ('gin/methods/aql.gin', ['ProposalNetwork.prefix_size = 128'], 500, True),
    'aql_dedup': ('gin/methods/aql.gin', ['AmortizedSearch.deduplicate = True'], 500, True),
    # The proposal's own search (gamma = 0 or the paper's form) at 8 / 16 states of the batch.
    'aql_search8': ('gin/methods/aql.gin', ['AqlAgent.proposal_search_batch_size = 8'], 500, True),
    'aql_search16': ('gin/methods/aql.gin', ['AqlAgent.proposal_search_batch_size = 16'], 500,
                     True),
    'aql_search32': ('gin/methods/aql.gin', ['AqlAgent.proposal_search_batch_size = None'], 500,
                     True),
    'aql_one_critic': ('gin/methods/aql.gin', ['AqlAgent.clipped_double_q = False'], 500, True),
    'uniform_ql_one_critic': ('gin/methods/uniform_ql.gin', ['AqlAgent.clipped_double_q = False'],
                              500, True),
    'uniform_ql': ('gin/methods/uniform_ql.gin', [], 500, True),
    # Every candidate row of a search in one scoring pass (the critic's default splits them).
    'aql_one_pass': ('gin/methods/aql.gin',
                     ['tf_aql.CriticNetwork.max_rows_per_scoring_pass = None'], 500, True),
    'uniform_ql_one_pass': ('gin/methods/uniform_ql.gin',
                            ['tf_aql.CriticNetwork.max_rows_per_scoring_pass = None'], 500, True),
    'qt_opt': ('gin/methods/qt_opt.gin', [], 128, True),
    'qt_opt_budget': ('gin/methods/qt_opt_budget.gin', [], 500, True),
    'ddpg': ('gin/methods/ddpg.gin', [  # the shipped 400-300 widths replaced by AQL's
        'make_ddpg_agent.actor_fc_layer_params = (256, 256)',
        'make_ddpg_agent.critic_observation_fc_layer_params = (256,)',
        'make_ddpg_agent.critic_joint_fc_layer_params = (256, 256)'], None, False),
    'sac': ('gin/methods/sac.gin', [], None, False),
}
WIDTH_BINDINGS = [
    'tf_aql.CriticNetwork.torso_fc_layer_params = (256,)',
    'tf_aql.CriticNetwork.head_fc_layer_params = (256, 256)',
    'ProposalNetwork.hidden_size = 256',
]
BASELINE = 'uniform_ql'
AQL_VARIANTS = [m for m in METHODS if m.startswith('aql')]  # each checked against the targets


# --- building -----------------------------------------------------------------------------


def load_env(task: str):
  """The synthetic py environment of `task` ('discrete' or 'continuous')."""
  if task == 'discrete':
    kwargs = {'num_sub_actions': FLAGS.num_sub_actions, 'num_values': FLAGS.num_values}
    return suite_gymnasium.load(DISCRETE_ENV, env_kwargs=kwargs, seed=0)
  return suite_gymnasium.load(CONTINUOUS_ENV,
                              env_kwargs={'num_sub_actions': FLAGS.num_sub_actions}, seed=0)


def applies(task: str, method: str) -> bool:
  return task == 'continuous' or METHODS[method][3]


def build_agent(task: str, method: str):
  """(agent, py_env): the method's shipped gin file plus the common widths, via builders."""
  gin_file, bindings, _, _ = METHODS[method]
  gin.clear_config()
  gamma = [] if FLAGS.gamma is None else [f'AqlAgent.gamma = {FLAGS.gamma}']
  cli.parse_gin([os.path.join(REPO_ROOT, gin_file)], WIDTH_BINDINGS + gamma + bindings)
  env = load_env(task)
  time_step_spec = tensor_spec.from_spec(env.time_step_spec())
  action_spec = tensor_spec.from_spec(env.action_spec())
  train_step = tf.Variable(0, dtype=tf.int64, name='train_step')
  agent = builders.make_agent(time_step_spec, action_spec, train_step)
  gin.clear_config()
  return agent, env


def fixed_batch(agent, batch_size: int, seed: int = 0):
  """Random trajectories [B, T, ...] from `collect_data_spec`: MID steps, discount 1,
  standard-normal rewards (the spec's unbounded reward would sample huge values)."""
  length = agent.train_sequence_length or 2
  experience = tensor_spec.sample_spec_nest(agent.collect_data_spec, seed=seed,
                                            outer_dims=(batch_size, length))
  mid = tf.fill([batch_size, length], ts.StepType.MID)
  return experience._replace(step_type=tf.cast(mid, experience.step_type.dtype),
                             next_step_type=tf.cast(mid, experience.next_step_type.dtype),
                             discount=tf.ones_like(experience.discount),
                             reward=tf.random.stateless_normal(
                                 [batch_size, length], seed=[seed, 1]))


# --- timing helpers -------------------------------------------------------------------------


def time_calls(fn: Callable[[], object], calls: int) -> float:
  """Mean seconds per call of `fn` over `calls` calls, synchronized on the last result."""
  start = time.perf_counter()
  result = None
  for _ in range(calls):
    result = fn()
  tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy') else t, result)
  return (time.perf_counter() - start) / calls


def round_robin(items: Dict[str, Callable[[], object]], repeats: int, calls: int,
                warmup: int) -> Dict[str, List[float]]:
  """Seconds per call of every item, `repeats` times, items interleaved (rotating order)."""
  for fn in items.values():
    time_calls(fn, warmup)
  names = list(items)
  samples = {name: [] for name in names}
  for repeat in range(repeats):
    shift = repeat % len(names)
    for name in names[shift:] + names[:shift]:
      samples[name].append(time_calls(items[name], calls))
  return samples


def median_ms(seconds: Sequence[float]) -> float:
  return 1e3 * statistics.median(seconds)


def load_line() -> str:
  one, five, fifteen = os.getloadavg()
  return f'load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs'


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  return '\n'.join(lines)


# --- 1. learner steps -----------------------------------------------------------------------


def learner_steps(agents: Dict[Tuple[str, str], object]) -> Dict[str, Dict]:
  """Median ms per learner step of every (task, method), all interleaved."""
  items = {}
  for (task, method), agent in agents.items():
    experience = fixed_batch(agent, FLAGS.batch_size)
    train = common.function(agent.train)
    items[f'{task}:{method}'] = lambda train=train, experience=experience: train(experience).loss
  samples = round_robin(items, FLAGS.repeats, FLAGS.steps, FLAGS.warmup)
  results = {}
  for key, seconds in samples.items():
    task, method = key.split(':')
    baseline = samples.get(f'{task}:{BASELINE}')
    results[key] = {'task': task, 'method': method, 'ms': median_ms(seconds),
                    'samples_ms': [1e3 * s for s in seconds],
                    'evaluations': METHODS[method][2],
                    'ratio_to_uniform_ql': (median_ms(seconds) / median_ms(baseline)
                                            if baseline else None)}
  return results


def learner_table(results: Dict[str, Dict]) -> str:
  rows = []
  for r in results.values():
    ratio = f'{r["ratio_to_uniform_ql"]:.2f}' if r['ratio_to_uniform_ql'] else '-'
    spread = f'{min(r["samples_ms"]):.0f}-{max(r["samples_ms"]):.0f}'
    rows.append([r['task'], r['method'], r['evaluations'] or '-', f'{r["ms"]:.1f}', spread,
                 f'{1e3 / r["ms"]:.1f}', ratio])
  return markdown_table(['task', 'method', 'Q-evals/state', 'ms/step (median)',
                         'range over repeats', 'steps/s', f'ratio to {BASELINE}'], rows)


# --- 2. and 3. AQL step breakdown and FLOP/s ------------------------------------------------


def score_flops(critic, batch_size: int, num_candidates: int) -> int:
  """Matmul FLOPs of critic.score on [B, K, D]: 2 m n k per matmul, state part once/state."""
  embedding = critic.state_embedding_size
  widths = [layer.units for layer in critic._head_layers]  # pylint: disable=protected-access
  first = critic._state_projection.units  # pylint: disable=protected-access
  features = critic.action_space.feature_size
  flops = 2 * batch_size * embedding * first  # state projection
  flops += 2 * batch_size * num_candidates * features * first  # action projection
  previous = first
  for width in widths + [1]:  # head MLP, then the Q layer
    flops += 2 * batch_size * num_candidates * previous * width
    previous = width
  return flops


def one_hot_score(critic):
  """Reference: critic.score with discrete actions entering the first head layer as a one-hot
  [B*K, D*V] matmul (the critic's dense path), instead of its gathered sum of kernel rows.
  Same function, so the FLOPs counted for both are the same."""
  # pylint: disable=protected-access
  def score(state_embedding, candidate_actions):
    state_part = critic._state_projection(state_embedding)  # [B, H]
    return critic._head(critic._dense_first_layer(state_part, candidate_actions), False)
  return score


def bf16_score(critic):
  """Bench-side sketch (not library code): critic.score with every matmul in bfloat16."""
  # pylint: disable=protected-access
  def dense(layer, x, activation=None):
    y = tf.matmul(x, tf.cast(layer.kernel, tf.bfloat16))
    if layer.use_bias:
      y += tf.cast(layer.bias, tf.bfloat16)
    return activation(y) if activation is not None else y

  def score(state_embedding, candidate_actions):
    batch_size, num_candidates = tf.shape(candidate_actions)[0], tf.shape(candidate_actions)[1]
    features = tf.cast(critic.action_space.features(candidate_actions), tf.bfloat16)
    features = tf.reshape(features, [-1, critic.action_space.feature_size])
    state_part = dense(critic._state_projection, tf.cast(state_embedding, tf.bfloat16))
    action_part = dense(critic._action_projection, features)
    width = tf.shape(action_part)[-1]
    hidden = tf.reshape(action_part, [batch_size, num_candidates, width])
    hidden = tf.nn.relu(hidden + state_part[:, tf.newaxis, :])
    hidden = tf.reshape(hidden, [-1, width])
    for layer in critic._head_layers:
      hidden = dense(layer, hidden, tf.nn.relu)
    q_values = dense(critic._q_layer, hidden)
    return tf.cast(tf.reshape(q_values, [batch_size, num_candidates]), tf.float32)
  return score


def score_matmuls_only(critic, batch_size: int, num_candidates: int):
  """The dense matmuls of critic.score alone, on precomputed inputs (no one-hot, bias, relu,
  reshape): what scoring would cost if it were matmul-bound."""
  # pylint: disable=protected-access
  rows = batch_size * num_candidates
  features = tf.random.uniform([rows, critic.action_space.feature_size], seed=7)
  hidden = tf.random.uniform([rows, critic._state_projection.units], seed=8)
  kernels = [layer.kernel for layer in critic._head_layers]

  def run():
    outputs = [tf.matmul(features, critic._action_projection.kernel)]
    outputs += [tf.matmul(hidden, kernel) for kernel in kernels]
    outputs.append(tf.matmul(hidden, critic._q_layer.kernel))
    return [o[0, 0] for o in outputs]
  return run


def matmul_items(size: int) -> Dict[str, Callable[[], object]]:
  items = {}
  for dtype in (tf.float32, tf.bfloat16):
    a = tf.cast(tf.random.normal([size, size]), dtype)
    b = tf.cast(tf.random.normal([size, size]), dtype)
    fn = tf.function(lambda a=a, b=b: tf.matmul(a, b))
    items[f'matmul_{dtype.name}'] = fn
  return items


def aql_parts(agent: AqlAgent, env, task: str) -> Tuple[Dict[str, Callable], Dict[str, int]]:
  """Timed callables of the parts of an AQL step, and the FLOPs of each scoring item."""
  critic, proposal_network = agent.critic_network, agent.proposal_network
  batch, k = FLAGS.batch_size, agent.search.num_evaluations
  num_proposal = agent.search.num_proposal_samples
  observation = tensor_spec.sample_spec_nest(
      tensor_spec.from_spec(env.observation_spec()), seed=1, outer_dims=(batch,))
  embedding = critic.embed(observation)  # [B, E]
  candidates = critic.action_space.sample_uniform([batch, k], seed=2)  # [B, K, D]
  best_actions = critic.action_space.sample_uniform([batch], seed=3)  # [B, D]
  score = tf.function(lambda: critic.score(embedding, candidates))
  items = {
      f'{task}:score [B,{k},D]': score,
      f'{task}:proposal sample {num_proposal}xB':
          tf.function(lambda: proposal_network(embedding)[0].sample(num_proposal)),
      f'{task}:proposal log_prob+entropy':
          tf.function(lambda: _log_prob_entropy(proposal_network, embedding, best_actions)),
      f'{task}:amortized search (sample+score+argmax)':
          tf.function(lambda: search_argmax(agent.search, critic, embedding,
                                            proposal_network).best_actions),
      f'{task}:embed (torso) B states': tf.function(lambda: critic.embed(observation)),
  }
  flops = {f'{task}:score [B,{k},D]': score_flops(critic, batch, k)}
  key = f'{task}:score, its matmuls only'
  items[key] = tf.function(score_matmuls_only(critic, batch, k))
  flops[key] = flops[f'{task}:score [B,{k},D]'] - 2 * batch * critic.state_embedding_size * (
      critic._state_projection.units)  # pylint: disable=protected-access
  if critic.action_space.is_discrete:
    one_hot = one_hot_score(critic)
    key = f'{task}:score, one-hot first layer (reference)'
    items[key] = tf.function(lambda: one_hot(embedding, candidates))
    flops[key] = flops[f'{task}:score [B,{k},D]']
  bf16 = bf16_score(critic)
  key = f'{task}:score, bf16 matmuls (sketch)'
  items[key] = tf.function(lambda: bf16(embedding, candidates))
  flops[key] = flops[f'{task}:score [B,{k},D]']
  return items, flops


def _log_prob_entropy(proposal_network, embedding, best_actions):
  proposal, _ = proposal_network(embedding)
  return proposal.log_prob(best_actions) + proposal.entropy()


def sketch_checks(agent: AqlAgent, task: str) -> Dict[str, float]:
  """How closely the bench-side sketches match critic.score: max |dQ| and argmax agreement."""
  critic = agent.critic_network
  observation = tf.random.uniform([FLAGS.batch_size, critic.input_tensor_spec[0].shape[0]],
                                  seed=4)
  embedding = critic.embed(observation)
  candidates = critic.action_space.sample_uniform([FLAGS.batch_size, 500], seed=5)
  reference = critic.score(embedding, candidates)
  checks = {}
  variants = {'bf16': bf16_score(critic)}
  if critic.action_space.is_discrete:
    variants['one_hot'] = one_hot_score(critic)
  for name, fn in variants.items():
    q_values = fn(embedding, candidates)
    checks[f'{task}:{name}:max_abs_diff'] = float(tf.reduce_max(tf.abs(q_values - reference)))
    checks[f'{task}:{name}:argmax_agreement'] = float(tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(q_values, 1), tf.argmax(reference, 1)), tf.float32)))
  checks[f'{task}:q_std_over_candidates'] = float(tf.reduce_mean(
      tf.math.reduce_std(reference, axis=1)))
  return checks


def micro_benchmarks(agents, envs) -> Dict:
  """Scoring, sampling and matmul items interleaved; ms and GFLOP/s per item."""
  items = matmul_items(FLAGS.matmul_size)
  flops = {name: 2 * FLAGS.matmul_size**3 for name in items}
  checks = {}
  for task in FLAGS.tasks:
    if (task, 'aql') in agents:
      task_items, task_flops = aql_parts(agents[(task, 'aql')], envs[task], task)
      items.update(task_items)
      flops.update(task_flops)
      checks.update(sketch_checks(agents[(task, 'aql')], task))
  samples = round_robin(items, FLAGS.repeats, FLAGS.micro_calls, warmup=2)
  results = {}
  for name, seconds in samples.items():
    ms = median_ms(seconds)
    gflops = flops[name] / (ms * 1e-3) / 1e9 if name in flops else None
    results[name] = {'ms': ms, 'samples_ms': [1e3 * s for s in seconds],
                     'gflop': flops.get(name, 0) / 1e9, 'gflops_per_s': gflops}
  ceiling = results['matmul_float32']['gflops_per_s']
  for r in results.values():
    r['fraction_of_fp32_matmul'] = r['gflops_per_s'] / ceiling if r['gflops_per_s'] else None
  return {'items': results, 'checks': checks}


def micro_table(micro: Dict, learner: Dict[str, Dict]) -> str:
  rows = []
  for name, r in micro['items'].items():
    task = name.split(':')[0]
    step = learner.get(f'{task}:aql', {}).get('ms')
    share = f'{r["ms"] / step:.2f}' if step and not name.startswith('matmul') else '-'
    gflops = f'{r["gflops_per_s"]:.0f}' if r['gflops_per_s'] else '-'
    fraction = (f'{r["fraction_of_fp32_matmul"]:.2f}' if r['fraction_of_fp32_matmul']
                else '-')
    rows.append([name, f'{r["ms"]:.2f}', share, f'{r["gflop"]:.2f}' if r['gflop'] else '-',
                 gflops, fraction])
  return markdown_table(['item', 'ms (median)', 'x AQL step', 'GFLOP', 'GFLOP/s',
                         'fraction of fp32 matmul'], rows)


# --- 4. and 5. acting: exported-policy latency, collection ----------------------------------


def policy_latency(agent, env, export_dir: str) -> Dict[str, float]:
  """Median ms per call of the exported greedy policy at batch 1 and at batch B."""
  policy_saver.PolicySaver(builders.greedy_policy(agent), batch_size=None).save(export_dir)
  loaded = tf.saved_model.load(export_dir)
  observation_spec = tensor_spec.from_spec(env.observation_spec())
  latency = {}
  for batch in (1, FLAGS.batch_size):
    observation = tensor_spec.sample_spec_nest(observation_spec, seed=6, outer_dims=(batch,))
    time_step = ts.TimeStep(tf.fill([batch], ts.StepType.MID), tf.zeros([batch]),
                            tf.ones([batch]), observation)
    call = lambda time_step=time_step: loaded.action(time_step).action
    time_calls(call, 3)
    calls = [time_calls(call, 1) for _ in range(FLAGS.latency_calls)]
    latency[f'batch_{batch}_ms'] = median_ms(calls)
  return latency


def collection_rate(agent, env) -> float:
  """Environment steps/s of a TF-Agents Actor with the collect policy (after a warm-up)."""
  policy = py_tf_eager_policy.PyTFEagerPolicy(agent.collect_policy, use_tf_function=True)
  step = tf.Variable(0, dtype=tf.int64)
  actor.Actor(env, policy, step, steps_per_run=10).run()  # traces the policy
  timed = actor.Actor(env, policy, step, steps_per_run=FLAGS.collect_steps)
  start = time.perf_counter()
  timed.run()
  return FLAGS.collect_steps / (time.perf_counter() - start)


def acting(agents, envs) -> Dict[str, Dict]:
  results = {}
  with tempfile.TemporaryDirectory() as root:
    for (task, method), agent in agents.items():
      if task not in FLAGS.acting_tasks:
        continue
      row = policy_latency(agent, envs[task], os.path.join(root, f'{task}_{method}'))
      row['collect_env_steps_per_s'] = collection_rate(agent, envs[task])
      results[f'{task}:{method}'] = row
  return results


def acting_table(results: Dict[str, Dict]) -> str:
  rows = [[key.split(':')[0], key.split(':')[1], f'{r["batch_1_ms"]:.2f}',
           f'{r[f"batch_{FLAGS.batch_size}_ms"]:.2f}', f'{r["collect_env_steps_per_s"]:.0f}']
          for key, r in results.items()]
  return markdown_table(['task', 'method', 'greedy latency, batch 1 (ms)',
                         f'greedy latency, batch {FLAGS.batch_size} (ms)',
                         'collect env steps/s (Actor)'], rows)


# --- 6. peak memory -------------------------------------------------------------------------


def peak_rss_mb() -> float:
  """This process's peak resident set (VmHWM), MB.

  Not `getrusage(RUSAGE_SELF).ru_maxrss`: Linux carries ru_maxrss over fork and exec, so a child
  of this (large) process would report the parent's peak. VmHWM belongs to the new address
  space and starts from zero at exec.
  """
  with open('/proc/self/status') as status:
    for line in status:
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) / 1024.0  # kB
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def memory_probe(probe: str) -> None:
  """Child mode: build the agent of TASK:METHOD, train a few steps, print the peak RSS."""
  if probe != 'baseline':
    task, method = probe.split(':')
    agent, _ = build_agent(task, method)
    train = common.function(agent.train)
    experience = fixed_batch(agent, FLAGS.batch_size)
    for _ in range(3):
      train(experience).loss.numpy()
  else:
    load_env('discrete')
    tf.matmul(tf.ones([2, 2]), tf.ones([2, 2])).numpy()
  print(json.dumps({'probe': probe, 'peak_rss_mb': peak_rss_mb(),
                    'ru_maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def memory(pairs: Sequence[Tuple[str, str]]) -> Dict[str, float]:
  results = {}
  for probe in ['baseline'] + [f'{t}:{m}' for t, m in pairs if t in FLAGS.memory_tasks]:
    command = [sys.executable, os.path.abspath(__file__), f'--memory_probe={probe}',
               f'--batch_size={FLAGS.batch_size}', f'--num_sub_actions={FLAGS.num_sub_actions}',
               f'--num_values={FLAGS.num_values}']
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    results[probe] = json.loads(output.stdout.strip().splitlines()[-1])['peak_rss_mb']
  return results


def memory_table(results: Dict[str, float]) -> str:
  baseline = results['baseline']
  rows = [[probe, f'{mb:.0f}', f'{mb - baseline:+.0f}' if probe != 'baseline' else '-']
          for probe, mb in results.items()]
  return markdown_table(['process', 'peak RSS (MB)', 'over baseline (MB)'], rows)


# --- main -----------------------------------------------------------------------------------


def targets(learner: Dict[str, Dict], micro: Dict) -> List[str]:
  """The speed targets, each 'met' or 'NOT met' with the numbers.

  Scoring is compared with two fp32 matmul ceilings by its effective rate: the FLOPs of the
  dense function it computes (the one-hot first layer counted as the matmul it replaces,
  `score_flops`) divided by its time. The gathered first layer does less work than that, so
  the effective rate can exceed a ceiling. Ceilings: the rate of the 4096^3 matmul, and the rate
  of scoring's own dense matmuls alone at the same shapes ('its matmuls only'); the second is
  the one the target uses, since on a machine whose memory bandwidth limits the large matmul
  the first is below what matmuls of scoring's shapes reach.
  """
  lines = []
  items = micro['items']
  for task in FLAGS.tasks:
    score = next((r for n, r in items.items() if n.startswith(f'{task}:score [')), None)
    matmuls = items.get(f'{task}:score, its matmuls only')
    if score and matmuls:
      fraction = score['gflops_per_s'] / matmuls['gflops_per_s']
      lines.append(f'- {task}: candidate scoring at {fraction:.2f} of the fp32 rate of its own '
                   f'matmuls at the same shapes ({score["gflops_per_s"]:.0f} vs '
                   f'{matmuls["gflops_per_s"]:.0f} GFLOP/s; {score["fraction_of_fp32_matmul"]:.2f}'
                   f' of the 4096^3 matmul; target >= 1): '
                   f'{"met" if fraction >= 1 else "NOT met"}.')
    uniform, qt_opt = learner.get(f'{task}:uniform_ql'), learner.get(f'{task}:qt_opt_budget')
    for method in AQL_VARIANTS:
      aql = learner.get(f'{task}:{method}')
      if aql and uniform:
        ratio = aql['ms'] / uniform['ms']
        lines.append(f'- {task}: {method} step = {ratio:.2f} x UniformQL step at 500 '
                     f'evaluations (target <= 1.3): {"met" if ratio <= 1.3 else "NOT met"}.')
      if aql and qt_opt:
        ratio = aql['ms'] / qt_opt['ms']
        lines.append(f'- {task}: {method} step = {ratio:.2f} x QT-Opt (CEM 2x250) step '
                     f'(target <= 1): {"met" if ratio <= 1 else "NOT met"}.')
  return lines


def pairs_to_measure() -> List[Tuple[str, str]]:
  return [(task, method) for task in FLAGS.tasks for method in FLAGS.methods
          if applies(task, method)]


def main(argv):
  del argv
  cli.quiet_logs()
  if FLAGS.memory_probe:
    memory_probe(FLAGS.memory_probe)
    return
  started = time.time()
  print(f'# bench/cost.py\n\n{time.strftime("%Y-%m-%d %H:%M")}; start: {load_line()}\n')
  tf.random.set_seed(0)
  pairs = pairs_to_measure()
  agents, envs = {}, {}
  for task, method in pairs:
    agents[(task, method)], envs[task] = build_agent(task, method)
  learner = learner_steps(agents)
  print('## Learner steps (batch %d)\n\n%s\n' % (FLAGS.batch_size, learner_table(learner)))
  micro = micro_benchmarks(agents, envs)
  print('## AQL step parts, scoring FLOP/s\n\n%s\n' % micro_table(micro, learner))
  print('Sketch checks: ' + json.dumps({k: round(v, 6) for k, v in micro['checks'].items()}))
  acted = acting(agents, envs)
  print('\n## Acting\n\n%s\n' % acting_table(acted))
  peaks = memory(pairs) if FLAGS.memory_tasks else {}
  if peaks:
    print('## Peak memory (one subprocess each, 3 learner steps)\n\n%s\n' % memory_table(peaks))
  lines = targets(learner, micro)
  print('## Targets\n\n' + '\n'.join(lines))
  print(f'\nend: {load_line()}; wall time {time.time() - started:.0f} s')
  if FLAGS.output_json:
    with open(FLAGS.output_json, 'w') as f:
      json.dump({'learner': learner, 'micro': micro, 'acting': acted, 'memory': peaks,
                 'targets': lines, 'flags': FLAGS.flag_values_dict()}, f, indent=1,
                default=str)


if __name__ == '__main__':
  app.run(main)
