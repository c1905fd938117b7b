"""Tests for tf_aql.search: every search against a synthetic critic with a known argmax."""

import itertools
import os

from absl.testing import parameterized
import gin
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.specs import tensor_spec

from tf_aql import search
from tf_aql.action_space import ActionSpace

tfd = tfp.distributions

# Three states with different optima (internal units).
_MULTI_NUM_VALUES = [3, 4, 5]  # 60 joint actions
_MULTI_TARGETS = [[0, 3, 1], [2, 0, 4], [1, 2, 2]]
_BOX_LOW = [-1.0, -2.0, 0.0]
_BOX_HIGH = [1.0, 2.0, 4.0]
_BOX_TARGETS = [[0.3, -1.5, 3.0], [-0.7, 0.5, 1.0], [0.9, 1.9, 0.2]]


def _discrete_space(num_values, minimum=0) -> ActionSpace:
  num_values = np.asarray(num_values)
  return ActionSpace(tensor_spec.BoundedTensorSpec(
      [len(num_values)], tf.int32, minimum=minimum, maximum=minimum + num_values - 1))


def _scalar_space(num_values: int, minimum: int = -2) -> ActionSpace:
  return ActionSpace(tensor_spec.BoundedTensorSpec(
      (), tf.int64, minimum=minimum, maximum=minimum + num_values - 1))


def _box_space() -> ActionSpace:
  return ActionSpace(tensor_spec.BoundedTensorSpec(
      [3], tf.float32, minimum=_BOX_LOW, maximum=_BOX_HIGH))


def _quadratic_score_fn(targets):
  """Q(s_b, a) = -sum_d e_d^2 - 0.1 sum_d (e_d e_{d+1})^2 with e = a - targets[b].

  Both terms are <= 0 and vanish only at `a = targets[b]`: the unique argmax, with Q = 0.
  """
  def score_fn(candidate_actions):  # [B, K, D] -> [B, K]
    errors = tf.cast(candidate_actions, tf.float32) - targets[:, tf.newaxis, :]  # [B, K, D]
    interaction = tf.reduce_sum(tf.square(errors[..., 1:] * errors[..., :-1]), axis=-1)
    return -tf.reduce_sum(tf.square(errors), axis=-1) - 0.1 * interaction
  return score_fn


def _table_score_fn(space: ActionSpace, table: np.ndarray):
  """Q(s_b, a) = table[b, flat index of a] (mixed radix, last sub-action fastest)."""
  def score_fn(candidate_actions):  # [B, K, D] -> [B, K]
    return tf.gather(tf.constant(table, tf.float32), _flat_index(space, candidate_actions),
                     axis=1, batch_dims=1)
  return score_fn


def _flat_index(space: ActionSpace, actions: tf.Tensor) -> tf.Tensor:
  """Mixed-radix flat index [...] of internal actions [..., D], last sub-action fastest."""
  strides = np.cumprod([1] + space.num_values[::-1].tolist()[:-1])[::-1]  # [D]
  return tf.reduce_sum(actions * tf.constant(strides, tf.int32), axis=-1)


class _Recorder:
  """Wraps a score_fn and records each call's candidates and values (eager mode)."""

  def __init__(self, score_fn):
    self._score_fn = score_fn
    self.candidates, self.values = [], []

  def __call__(self, candidate_actions):
    values = self._score_fn(candidate_actions)
    self.candidates.append(candidate_actions)
    self.values.append(values)
    return values

  @property
  def num_calls(self) -> int:
    return len(self.values)


def _categorical_proposal(space: ActionSpace, logits: np.ndarray) -> tfd.Distribution:
  """mu(a|s) = prod_d Categorical(logits[b, d]), invalid padded values masked; batch [B]."""
  valid = np.arange(space.max_num_values) < space.num_values[:, np.newaxis]  # [D, V]
  logits = tf.where(valid, tf.cast(logits, tf.float32), -1e9)
  return tfd.Independent(tfd.Categorical(logits=logits, dtype=tf.int32),
                         reinterpreted_batch_ndims=1)


def _uniform_proposal(space: ActionSpace, batch_size) -> tfd.Distribution:
  """A proposal of the right shape for any space: uniform, batch [B], event [D]."""
  if space.is_discrete:
    shape = tf.stack([batch_size, space.num_dims, space.max_num_values])
    return _categorical_proposal(space, tf.zeros(shape))
  shape = tf.stack([batch_size, space.num_dims])
  return tfd.Independent(tfd.Uniform(low=tf.broadcast_to(space.low, shape),
                                     high=tf.broadcast_to(space.high, shape)), 1)


def _make_search(name: str, space: ActionSpace) -> search.ActionSearch:
  if name == 'uniform':
    return search.UniformSearch(space, num_uniform_samples=50)
  if name == 'amortized':
    return search.AmortizedSearch(space, num_proposal_samples=20, num_uniform_samples=30)
  if name == 'cem':
    return search.CemSearch(space, num_iterations=3, num_samples=16, num_elites=4)
  return search.ExhaustiveSearch(space, chunk_size=7)


def _make_space(name: str) -> ActionSpace:
  if name == 'multi_discrete':
    return _discrete_space([2, 7, 3], minimum=1)
  if name == 'scalar_discrete':
    return _scalar_space(9)
  return _box_space()


def _targets(space: ActionSpace, batch_size: int = 3) -> np.ndarray:
  """Per-state optima inside the space, float32 [B, D]."""
  if space.is_discrete:
    optima = np.arange(batch_size)[:, np.newaxis] * 5 + np.arange(space.num_dims)
    return (optima % space.num_values).astype(np.float32)
  return np.asarray(_BOX_TARGETS, np.float32)[:batch_size]


_SEARCHES_AND_SPACES = [
    dict(testcase_name=f'{search_name}_{space_name}', search_name=search_name,
         space_name=space_name)
    for search_name, space_name in itertools.product(
        ['uniform', 'amortized', 'cem', 'exhaustive'],
        ['multi_discrete', 'scalar_discrete', 'box'])
    if not (search_name == 'exhaustive' and space_name == 'box')]


class SearchTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    tf.random.set_seed(0)  # Resets the eager op-seeded streams: results independent of order.

  def assertInSpace(self, space: ActionSpace, actions: np.ndarray):
    actions = np.asarray(actions)
    if space.is_discrete:
      self.assertTrue(np.all(actions >= 0) and np.all(actions < space.num_values), actions)
    else:
      self.assertTrue(np.all(actions >= space.low) and np.all(actions <= space.high), actions)

  # --- exhaustive -------------------------------------------------------------------------

  @parameterized.named_parameters(
      ('multi_ragged_chunks', [3, 4, 5], 7, 9),  # 60 = 8 * 7 + 4
      ('multi_one_chunk', [3, 4, 5], 4096, 1),
      ('scalar_ragged_chunks', None, 3, 4))  # 10 = 3 * 3 + 1
  def testExhaustiveMatchesBruteForce(self, num_values, chunk_size, num_chunks):
    space = _discrete_space(num_values) if num_values else _scalar_space(10)
    table = np.random.RandomState(0).normal(size=[3, space.num_actions]).astype(np.float32)
    score_fn = _Recorder(_table_score_fn(space, table))
    exhaustive = search.ExhaustiveSearch(space, chunk_size=chunk_size)

    result = exhaustive(score_fn, batch_size=3)

    best_index = np.argmax(table, axis=1)
    expected_actions = np.stack(np.unravel_index(best_index, space.num_values.tolist()), -1)
    self.assertAllEqual(result.best_actions, expected_actions)
    self.assertAllClose(result.best_q_values, table.max(axis=1))
    self.assertAllEqual(result.from_proposal, np.zeros(3))
    self.assertEqual(result.best_actions.dtype, tf.int32)
    self.assertEqual(exhaustive.num_chunks, num_chunks)
    self.assertEqual(score_fn.num_calls, num_chunks)
    self.assertEqual(exhaustive.num_evaluations, space.num_actions)

  def testExhaustiveInTfFunctionWithUnknownBatch(self):
    space = _discrete_space(_MULTI_NUM_VALUES)
    table = np.random.RandomState(1).normal(size=[5, space.num_actions]).astype(np.float32)
    exhaustive = search.ExhaustiveSearch(space, chunk_size=7)

    @tf.function(input_signature=[tf.TensorSpec([None, space.num_actions], tf.float32)])
    def best_actions(q_table):
      score_fn = lambda a: tf.gather(q_table, _flat_index(space, a), axis=1, batch_dims=1)
      result = exhaustive(score_fn, batch_size=tf.shape(q_table)[0])
      self.assertEqual(result.best_actions.shape.as_list(), [None, 3])
      return result.best_actions

    for batch_size in (2, 5):
      expected = np.stack(np.unravel_index(np.argmax(table[:batch_size], axis=1),
                                           space.num_values.tolist()), -1)
      self.assertAllEqual(best_actions(table[:batch_size]), expected)

  def testExhaustiveRefusesASpaceOverTheLimit(self):
    space = _discrete_space([10] * 12)
    with self.assertRaisesRegex(
        ValueError,
        r'Exhaustive search cannot enumerate 12 discrete sub-action\(s\) x 10 values '
        r'\(1e\+12 joint actions\): 1000000000000 joint actions exceed the limit '
        r'max_num_actions=1000000; use the amortized, uniform or CEM search, or raise '
        r'ExhaustiveSearch.max_num_actions'):
      search.ExhaustiveSearch(space)
    small = _discrete_space(_MULTI_NUM_VALUES)
    with self.assertRaisesRegex(ValueError, '60 joint actions exceed the limit '
                                'max_num_actions=59'):
      search.ExhaustiveSearch(small, max_num_actions=59)
    self.assertEqual(search.ExhaustiveSearch(small, max_num_actions=60).num_evaluations, 60)

  def testExhaustiveRefusesAContinuousSpace(self):
    with self.assertRaisesRegex(
        ValueError, r'Exhaustive search needs a discrete action space; got 3 continuous '
        r'sub-action\(s\) in \[-2, 4\]\. Use the amortized, uniform or CEM search'):
      search.ExhaustiveSearch(_box_space())

  # --- uniform and amortized --------------------------------------------------------------

  def testUniformMatchesExhaustiveOnATinySpace(self):
    space = _discrete_space(_MULTI_NUM_VALUES)
    table = np.random.RandomState(2).normal(size=[3, space.num_actions]).astype(np.float32)
    score_fn = _Recorder(_table_score_fn(space, table))
    uniform = search.UniformSearch(space, num_uniform_samples=2000)  # P(miss) ~ e^-33

    result = uniform(score_fn, batch_size=3, seed=1)
    exact = search.ExhaustiveSearch(space)(_table_score_fn(space, table), batch_size=3)

    self.assertAllEqual(result.best_actions, exact.best_actions)
    self.assertAllClose(result.best_q_values, exact.best_q_values)
    self.assertAllEqual(result.from_proposal, np.zeros(3))
    self.assertEqual(score_fn.num_calls, 1)
    self.assertEqual(score_fn.candidates[0].shape, (3, 2000, 3))

  def testAmortizedFindsTheOptimumOfALargeSpaceWhereUniformFails(self):
    space = _discrete_space([10] * 12)  # 10^12 joint actions
    rng = np.random.RandomState(3)
    targets = rng.randint(10, size=[3, 12])
    score_fn = _quadratic_score_fn(tf.constant(targets, tf.float32))
    # Each sub-action right with probability e^6 / (e^6 + 9) = 0.98: all 12 with 0.78.
    proposal = _categorical_proposal(space, 6.0 * np.eye(10)[targets])
    amortized_score_fn, uniform_score_fn = _Recorder(score_fn), _Recorder(score_fn)
    amortized = search.AmortizedSearch(space)  # N = 100, M = 400
    uniform = search.UniformSearch(space, num_uniform_samples=amortized.num_evaluations)

    found = amortized(amortized_score_fn, batch_size=3, proposal=proposal, seed=4)
    baseline = uniform(uniform_score_fn, batch_size=3, seed=4)

    self.assertAllEqual(found.best_actions, targets)
    self.assertAllClose(found.best_q_values, np.zeros(3))
    self.assertAllEqual(found.from_proposal, np.ones(3))
    self.assertEqual(found.best_actions.dtype, tf.int32)
    # A uniform sample is the optimum with probability 1e-12: no state gets it.
    self.assertFalse(np.any(np.all(baseline.best_actions.numpy() == targets, axis=1)))
    self.assertTrue(np.all(baseline.best_q_values.numpy() < found.best_q_values.numpy() - 1))
    # The proposal's and the uniform candidates are scored in separate calls (the uniform
    # ones do not wait for the sampling loop); 500 evaluations either way.
    self.assertEqual([c.shape for c in amortized_score_fn.candidates],
                     [(3, 100, 12), (3, 400, 12)])
    self.assertEqual([c.shape for c in uniform_score_fn.candidates], [(3, 500, 12)])

  def testAmortizedWithoutProposalSamplesIsUniform(self):
    space = _discrete_space([10] * 12)
    score_fn = _quadratic_score_fn(tf.constant(_targets(space)))
    amortized = search.AmortizedSearch(space, num_proposal_samples=0, num_uniform_samples=50)
    self.assertFalse(amortized.uses_proposal)
    self.assertEqual(amortized.num_evaluations, 50)

    tf.random.set_seed(5)
    result = amortized(score_fn, batch_size=3, seed=6)  # No proposal needed.
    tf.random.set_seed(5)
    expected = search.UniformSearch(space, num_uniform_samples=50)(score_fn, 3, seed=6)

    self.assertAllEqual(result.best_actions, expected.best_actions)
    self.assertAllEqual(result.best_q_values, expected.best_q_values)
    self.assertAllEqual(result.from_proposal, np.zeros(3))

  def testAmortizedWithProposalSamplesOnly(self):
    space = _discrete_space(_MULTI_NUM_VALUES)
    targets = np.asarray(_MULTI_TARGETS)
    # A deterministic proposal: state b always proposes targets[b].
    logits = 100.0 * np.stack([np.eye(5)[targets[:, d]] for d in range(3)], axis=1)  # [B, D, V]
    score_fn = _Recorder(_quadratic_score_fn(tf.constant(targets, tf.float32)))
    amortized = search.AmortizedSearch(space, num_proposal_samples=4, num_uniform_samples=0)

    result = amortized(score_fn, 3, proposal=_categorical_proposal(space, logits), seed=7)

    self.assertAllEqual(score_fn.candidates[0], np.repeat(targets[:, np.newaxis], 4, axis=1))
    self.assertAllEqual(result.best_actions, targets)
    self.assertAllEqual(result.from_proposal, np.ones(3))

  def testDeduplicateReplacesRepeatedProposalSamplesByUniformOnes(self):
    space = _discrete_space(_MULTI_NUM_VALUES)
    targets = np.asarray(_MULTI_TARGETS)
    logits = 100.0 * np.stack([np.eye(5)[targets[:, d]] for d in range(3)], axis=1)  # [B, D, V]
    score_fn = _Recorder(_quadratic_score_fn(tf.constant(targets, tf.float32)))
    amortized = search.AmortizedSearch(space, num_proposal_samples=30, num_uniform_samples=0,
                                       deduplicate=True)

    result = amortized(score_fn, 3, proposal=_categorical_proposal(space, logits), seed=7)

    candidates = np.asarray(score_fn.candidates[0])  # [B, N, D]
    self.assertAllEqual(candidates[:, 0], targets)  # the first sample is the proposal's
    for b in range(3):  # the 29 repeats became uniform draws: many different actions
      self.assertGreater(len({tuple(a) for a in candidates[b]}), 10)
      self.assertInSpace(space, candidates[b])
    self.assertAllEqual(result.best_actions, targets)
    self.assertAllEqual(result.from_proposal, np.ones(3))

  def testRepeatedCandidatesMarksExactlyTheLaterCopies(self):
    candidates = tf.constant([[[0, 1], [2, 3], [0, 1], [0, 1], [1, 0]],
                              [[4, 4], [4, 4], [1, 2], [2, 1], [1, 2]]], tf.int32)
    self.assertAllEqual(search.base.repeated_candidates(candidates),
                        [[False, False, True, True, False], [False, True, False, False, True]])

  def testAmortizedNeedsAProposal(self):
    amortized = search.AmortizedSearch(_discrete_space(_MULTI_NUM_VALUES))
    self.assertTrue(amortized.uses_proposal)
    with self.assertRaisesRegex(ValueError, 'AmortizedSearch needs a proposal distribution'):
      amortized(_quadratic_score_fn(tf.zeros([3, 3])), batch_size=3)

  def testAmortizedStopsGradientsThroughCandidates(self):
    space = _box_space()
    scale = tf.Variable(1.0)
    amortized = search.AmortizedSearch(space, num_proposal_samples=10, num_uniform_samples=0)
    with tf.GradientTape() as tape:
      # Reparameterized samples: without the stop_gradient, Q would depend on `scale`.
      proposal = tfd.Independent(tfd.Uniform(
          low=scale * np.tile(_BOX_LOW, [3, 1]).astype(np.float32),
          high=np.tile(_BOX_HIGH, [3, 1]).astype(np.float32)), 1)
      result = amortized(_quadratic_score_fn(tf.constant(_BOX_TARGETS)), 3, proposal=proposal)
    self.assertIsNone(tape.gradient(result.best_q_values, scale))

  # --- CEM --------------------------------------------------------------------------------

  def testCemFindsTheOptimumOfAContinuousQuadratic(self):
    space = _box_space()
    score_fn = _Recorder(_quadratic_score_fn(tf.constant(_BOX_TARGETS)))
    cem = search.CemSearch(space, num_iterations=6, num_samples=128, num_elites=10)
    uniform = search.UniformSearch(space, num_uniform_samples=cem.num_evaluations)

    result = cem(score_fn, batch_size=3, seed=8)
    baseline = uniform(score_fn, batch_size=3, seed=8)

    self.assertAllClose(result.best_actions, _BOX_TARGETS, atol=0.1)
    self.assertInSpace(space, result.best_actions)
    self.assertEqual(score_fn.num_calls, 6 + 1)  # One call per CEM iteration, one uniform.
    self.assertEqual(cem.num_evaluations, 6 * 128)
    # 768 uniform samples of the 32-unit^3 box land ~0.3 away from the optimum.
    self.assertTrue(np.all(result.best_q_values.numpy() > baseline.best_q_values.numpy()))

  def testCemFindsTheOptimumOfASeparableDiscreteObjective(self):
    space = _discrete_space([4, 6, 5, 7, 3, 6, 5, 8])  # 604800 joint actions
    targets = np.asarray([[3, 0, 2, 6, 1, 5, 4, 7], [0, 5, 4, 0, 2, 2, 0, 0],
                          [1, 3, 0, 3, 0, 0, 2, 5]])
    score_fn = _quadratic_score_fn(tf.constant(targets, tf.float32))
    cem = search.CemSearch(space, num_iterations=5, num_samples=256, num_elites=16)
    uniform = search.UniformSearch(space, num_uniform_samples=cem.num_evaluations)

    result = cem(score_fn, batch_size=3, seed=9)
    baseline = uniform(score_fn, batch_size=3, seed=9)

    self.assertAllEqual(result.best_actions, targets)
    self.assertAllClose(result.best_q_values, np.zeros(3))
    # 1280 uniform samples hit one given action of 604800 with probability 0.2%.
    self.assertTrue(np.all(baseline.best_q_values.numpy() < 0))

  @parameterized.named_parameters(('discrete', 'multi_discrete'), ('continuous', 'box'))
  def testCemReturnsTheBestCandidateItEvaluated(self, space_name):
    space = _make_space(space_name)
    # Few samples and a rugged random critic: the last iteration is often not the best one.
    table = np.random.RandomState(10).normal(size=[3, 8 * 8 * 8]).astype(np.float32)
    def score_fn(candidate_actions):  # A random function of the cell the action falls in.
      cells = tf.cast(space.scale_to_unit(candidate_actions) * 3.999 + 4, tf.int32) if (
          not space.is_discrete) else candidate_actions
      flat = tf.reduce_sum(cells * tf.constant([64, 8, 1]), axis=-1)
      return tf.gather(tf.constant(table), flat, axis=1, batch_dims=1)
    recorder = _Recorder(score_fn)
    cem = search.CemSearch(space, num_iterations=4, num_samples=8, num_elites=2)

    result = cem(recorder, batch_size=3, seed=11)

    values = np.concatenate([v.numpy() for v in recorder.values], axis=1)  # [B, T * S]
    self.assertEqual(values.shape, (3, 4 * 8))
    self.assertAllEqual(result.best_q_values, values.max(axis=1))
    self.assertAllEqual(score_fn(result.best_actions[:, tf.newaxis])[:, 0],
                        result.best_q_values)
    for candidates in recorder.candidates:
      self.assertInSpace(space, candidates)

  def testCemValidation(self):
    space = _box_space()
    with self.assertRaisesRegex(ValueError, 'num_elites=65'):
      search.CemSearch(space, num_samples=64, num_elites=65)
    with self.assertRaisesRegex(ValueError, 'alpha=0'):
      search.CemSearch(space, alpha=0.0)

  # --- every search -----------------------------------------------------------------------

  @parameterized.named_parameters(*_SEARCHES_AND_SPACES)
  def testShapesDtypesAndBoundsWithUnknownBatch(self, search_name, space_name):
    space = _make_space(space_name)
    action_search = _make_search(search_name, space)
    num_dims = space.num_dims
    static_shapes = {}

    @tf.function(input_signature=[tf.TensorSpec([None, num_dims], tf.float32)])
    def run(targets):
      batch_size = tf.shape(targets)[0]
      result = action_search(_quadratic_score_fn(targets), batch_size,
                             proposal=_uniform_proposal(space, batch_size), seed=12)
      static_shapes.update(best_actions=result.best_actions.shape.as_list(),
                           best_q_values=result.best_q_values.shape.as_list(),
                           from_proposal=result.from_proposal.shape.as_list())
      return result

    for batch_size in (3, 1):
      targets = _targets(space, batch_size)
      result = run(targets)
      self.assertEqual(result.best_actions.shape, (batch_size, num_dims))
      self.assertEqual(result.best_q_values.shape, (batch_size,))
      self.assertEqual(result.from_proposal.shape, (batch_size,))
      self.assertEqual(result.best_actions.dtype, space.dtype)
      self.assertEqual(result.best_q_values.dtype, tf.float32)
      self.assertEqual(result.from_proposal.dtype, tf.float32)
      self.assertInSpace(space, result.best_actions)
      self.assertAllClose(_quadratic_score_fn(targets)(result.best_actions[:, tf.newaxis])[:, 0],
                          result.best_q_values)
    self.assertEqual(static_shapes, dict(best_actions=[None, num_dims], best_q_values=[None],
                                         from_proposal=[None]))
    self.assertEqual(run.experimental_get_tracing_count(), 1)

  @parameterized.named_parameters(('uniform', 'uniform'), ('amortized', 'amortized'),
                                  ('cem', 'cem'), ('exhaustive', 'exhaustive'))
  def testSavedModelRoundTrip(self, search_name):
    space = _discrete_space([2, 7, 3], minimum=1)
    action_search = _make_search(search_name, space)
    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None, space.num_dims], tf.float32)])
    def best_actions(targets):
      batch_size = tf.shape(targets)[0]
      return action_search(_quadratic_score_fn(targets), batch_size,
                           proposal=_uniform_proposal(space, batch_size)).best_actions

    module.best_actions = best_actions
    path = os.path.join(self.get_temp_dir(), search_name)
    tf.saved_model.save(module, path)
    loaded = tf.saved_model.load(path)

    targets = _targets(space, 4)
    actions = loaded.best_actions(targets)
    self.assertEqual(actions.shape, (4, 3))
    self.assertInSpace(space, actions)
    if search_name == 'exhaustive':
      self.assertAllEqual(actions, targets)

  def testGinConfigurable(self):
    gin.parse_config("""
        UniformSearch.num_uniform_samples = 9
        AmortizedSearch.num_proposal_samples = 7
        AmortizedSearch.num_uniform_samples = 11
        CemSearch.num_iterations = 3
        CemSearch.num_samples = 10
        ExhaustiveSearch.max_num_actions = 59
    """)
    space = _discrete_space(_MULTI_NUM_VALUES)
    self.assertEqual(search.UniformSearch(space).num_evaluations, 9)
    self.assertEqual(search.AmortizedSearch(space).num_evaluations, 18)
    self.assertEqual(search.CemSearch(space).num_evaluations, 30)
    with self.assertRaisesRegex(ValueError, 'max_num_actions=59'):
      search.ExhaustiveSearch(space)


if __name__ == '__main__':
  tf.test.main()
