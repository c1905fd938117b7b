"""Tests for tf_aql.networks.proposal_network: the autoregressive proposal mu(a|s)."""

import os

from absl.testing import parameterized
import gin
import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec

from tf_aql.action_space import ActionSpace
from tf_aql.networks import proposal_network
from tf_aql.networks.proposal_network import AutoregressiveProposal
from tf_aql.networks.proposal_network import ProposalNetwork

EMBEDDING_SIZE = 4


def _multi_discrete(num_values):
  return tensor_spec.BoundedTensorSpec([len(num_values)], tf.int32, 0,
                                       np.asarray(num_values) - 1)


def _box(low, high):
  return tensor_spec.BoundedTensorSpec([len(low)], tf.float32, low, high)


def _make(spec, autoregressive=True, hidden_size=8, embedding_size=EMBEDDING_SIZE,
          prefix_size=4, **kwargs):
  net = ProposalNetwork(spec, embedding_size, hidden_size=hidden_size, prefix_size=prefix_size,
                        autoregressive=autoregressive, **kwargs)
  net.create_variables()
  return net


def _randomize(net, seed=0, scale=1.0):
  """Sets every variable to N(0, scale^2) values (large enough for a non-uniform mu)."""
  rng = np.random.RandomState(seed)
  for var in net.variables:
    var.assign(scale * rng.randn(*var.shape).astype(np.float32))


def _weights(net):
  """Every parameter as a numpy array (the prefix stream's are None if factorized)."""
  def value(variable):
    return None if variable is None else variable.numpy()
  return {'W_s': net.context_layer.kernel.numpy(), 'b_s': net.context_layer.bias.numpy(),
          'K': net.head_kernel.numpy(), 'k': net.head_bias.numpy(),
          'U': value(net.prefix_state_kernel), 'v': value(net.prefix_state_bias),
          'G': value(net.action_embedding), 'J': value(net.prefix_head_kernel)}


def _log_softmax(x):
  x = x - x.max(axis=-1, keepdims=True)
  return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _np_params(net, states, actions):
  """Reference theta_d, one sub-action at a time (module docstring): [B, E], [B, D] -> [B, D, P].

  Continuous actions are embedded by their unit value u_d (as the network does).
  """
  w = _weights(net)
  space = net.action_space
  hidden = np.maximum(states @ w['W_s'] + w['b_s'], 0.)  # [B, H]
  params = np.einsum('bh,dhp->bdp', hidden, w['K']) + w['k']  # l_d
  if w['J'] is None:
    return params
  prefix_state = np.einsum('bh,dha->bda', hidden, w['U']) + w['v']  # u_d, d >= 2
  prefix = np.zeros([len(states), w['J'].shape[1]])  # r_d
  for d in range(1, space.num_dims):
    if space.is_discrete:
      prefix = prefix + w['G'][d - 1, actions[:, d - 1]]
    else:
      unit = (actions[:, d - 1] - (space.high + space.low)[d - 1] / 2) / (
          (space.high - space.low)[d - 1] / 2)
      prefix = prefix + unit[:, None] * w['G'][d - 1]
    params[:, d] += np.maximum(prefix + prefix_state[:, d - 1], 0.) @ w['J'][d - 1]
  return params


def _np_discrete_log_prob(net, states, actions):
  """Reference log mu(a|s): states [B, E], actions [B, D] -> [B]."""
  num_values = net.action_space.num_values
  params = _np_params(net, states, actions)  # [B, D, V]
  total = np.zeros(len(states))
  for d in range(len(num_values)):
    logits = params[:, d].copy()
    logits[:, num_values[d]:] = -np.inf
    total += _log_softmax(logits)[np.arange(len(states)), actions[:, d]]
  return total


def _np_normal_log_pdf(x, loc, std):
  return -0.5 * ((x - loc) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


def _np_continuous_log_prob(net, states, actions, min_log_std=-5., max_log_std=2.):
  """Reference tanh-Gaussian log-density: states [B, E], actions [B, D] -> [B]."""
  space = net.action_space
  center, half = (space.high + space.low) / 2, (space.high - space.low) / 2
  params = _np_params(net, states, actions)  # [B, D, 2]
  total = np.zeros(len(states))
  for d in range(space.num_dims):
    std = np.exp(np.clip(params[:, d, 1], min_log_std, max_log_std))
    unit = (actions[:, d] - center[d]) / half[d]
    total += (_np_normal_log_pdf(np.arctanh(unit), params[:, d, 0], std)
              - np.log(1 - unit ** 2) - np.log(half[d]))
  return total


class ProposalNetworkTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    tf.random.set_seed(0)

  # --- samples lie in the space ------------------------------------------------------------

  @parameterized.named_parameters(('autoregressive', True), ('factorized', False))
  def test_discrete_samples_never_take_masked_values(self, autoregressive):
    num_values = [2, 5, 3]
    net = _make(_multi_discrete(num_values), autoregressive)
    # Without the mask, the padded values would take almost all the mass.
    bias = np.zeros([3, 5], np.float32)
    for d, n in enumerate(num_values):
      bias[d, n:] = 50.
    net.head_bias.assign(bias)
    proposal, _ = net(tf.random.normal([2, EMBEDDING_SIZE]))
    samples = proposal.sample(400, seed=(1, 2))
    self.assertEqual(samples.dtype, tf.int32)
    self.assertEqual(samples.shape, (400, 2, 3))
    samples = samples.numpy()
    for d, n in enumerate(num_values):
      self.assertCountEqual(np.unique(samples[..., d]), range(n))  # every valid value, no other

  @parameterized.named_parameters(('autoregressive', True), ('factorized', False))
  def test_continuous_samples_stay_in_bounds(self, autoregressive):
    low, high = np.array([-2., 0.], np.float32), np.array([1., 3.], np.float32)
    net = _make(_box(low, high), autoregressive)
    # Means far outside [-1, 1] before the tanh, wide stds: saturated samples at both bounds.
    net.head_bias.assign([[20., 2.], [-20., 2.]])
    proposal, _ = net(tf.random.normal([3, EMBEDDING_SIZE]))
    samples = proposal.sample(500, seed=(3, 4))
    self.assertEqual(samples.dtype, tf.float32)
    self.assertEqual(samples.shape, (500, 3, 2))
    samples = samples.numpy()
    self.assertTrue(np.all(samples >= low) and np.all(samples <= high))
    self.assertAllClose(samples[..., 0].max(), 1.0, atol=1e-3)  # the pushes reach the bounds
    self.assertAllClose(samples[..., 1].min(), 0.0, atol=1e-3)
    self.assertTrue(np.all(np.isfinite(proposal.log_prob(samples))))

  def test_scalar_discrete_spec_is_one_sub_action(self):
    net = _make(tensor_spec.BoundedTensorSpec((), tf.int64, 0, 4))
    self.assertIsNone(net.action_embedding)
    self.assertFalse(net.autoregressive)
    proposal, _ = net(tf.random.normal([2, EMBEDDING_SIZE]))
    self.assertEqual(proposal.event_shape, [1])
    self.assertEqual(proposal.sample(3).shape, (3, 2, 1))

  # --- exact log-probabilities -------------------------------------------------------------

  def test_discrete_log_prob_by_hand(self):
    # E = H = A = 1, MultiDiscrete [2, 3], s in {1, 2}. h = s; logits_1 = l_1 = [0, h] (value 2
    # is masked: its weight 5 must not count); l_2 = 0, u_2 = h, r_2 = G[a_1] with G = [0, -3];
    # logits_2 = relu(u_2 + r_2) * [1, 0, -1]. So a_2 | a_1 = 1 is uniform (u_2 + r_2 < 0),
    # a_2 | a_1 = 0 is not.
    net = _make(_multi_discrete([2, 3]), hidden_size=1, embedding_size=1, prefix_size=1)
    net.context_layer.kernel.assign([[1.]])
    net.context_layer.bias.assign([0.])
    net.head_kernel.assign([[[0., 1., 5.]], [[0., 0., 0.]]])
    net.head_bias.assign(np.zeros([2, 3], np.float32))
    net.prefix_state_kernel.assign([[[1.]]])
    net.prefix_state_bias.assign([[0.]])
    net.action_embedding.assign([[[0.], [-3.], [0.]]])
    net.prefix_head_kernel.assign([[[1., 0., -1.]]])
    proposal, _ = net(tf.constant([[1.], [2.]]))
    e = np.e
    expected = {
        (1, 2): [np.log(e / (1 + e)) + np.log(1 / 3),
                 np.log(e ** 2 / (1 + e ** 2)) + np.log(1 / 3)],
        (0, 0): [np.log(1 / (1 + e)) + np.log(e / (e + 1 + 1 / e)),
                 np.log(1 / (1 + e ** 2)) + np.log(e ** 2 / (e ** 2 + 1 + e ** -2))],
        (0, 2): [np.log(1 / (1 + e)) + np.log((1 / e) / (e + 1 + 1 / e)),
                 np.log(1 / (1 + e ** 2)) + np.log(e ** -2 / (e ** 2 + 1 + e ** -2))],
    }
    for action, log_probs in expected.items():
      actions = tf.constant([action, action], tf.int32)  # [B=2, D=2]
      self.assertAllClose(proposal.log_prob(actions), log_probs, atol=1e-5)

  def test_continuous_log_prob_by_hand(self):
    # E = H = A = 1, Box low=[-2, 0], high=[1, 3] (centers -0.5, 1.5; half ranges 1.5). h = s = 1;
    # mu_1: loc = 0.5 h = 0.5, std = 0.5; l_2 = 0, u_2 = h, r_2 = -2 u_1;
    # mu_2: loc = relu(u_2 + r_2) = relu(1 - 2 u_1), std 1.
    net = _make(_box([-2., 0.], [1., 3.]), hidden_size=1, embedding_size=1, prefix_size=1)
    net.context_layer.kernel.assign([[1.]])
    net.context_layer.bias.assign([0.])
    net.head_kernel.assign([[[0.5, 0.]], [[0., 0.]]])
    net.head_bias.assign([[0., np.log(0.5)], [0., 0.]])
    net.prefix_state_kernel.assign([[[1.]]])
    net.prefix_state_bias.assign([[0.]])
    net.action_embedding.assign([[-2.]])
    net.prefix_head_kernel.assign([[[1., 0.]]])
    proposal, _ = net(tf.constant([[1.], [1.]]))
    actions = np.array([[0.7, 2.0], [-1.5, 2.0]], np.float32)  # u_1 = 0.8 (c_2 < 0), -2/3

    def tanh_gaussian(a, center, loc, std):
      u = (a - center) / 1.5
      return _np_normal_log_pdf(np.arctanh(u), loc, std) - np.log(1 - u ** 2) - np.log(1.5)

    expected = []
    for a_1, a_2 in actions:
      u_1 = (a_1 + 0.5) / 1.5
      loc_2 = max(1. - 2. * u_1, 0.)
      expected.append(tanh_gaussian(a_1, -0.5, 0.5, 0.5) + tanh_gaussian(a_2, 1.5, loc_2, 1.))
    self.assertAllClose(proposal.log_prob(actions), expected, atol=1e-4)
    # The two actions share a_2, but a_1 changes the distribution of a_2.
    self.assertNotAllClose(expected[0] - tanh_gaussian(0.7, -0.5, 0.5, 0.5),
                           expected[1] - tanh_gaussian(-1.5, -0.5, 0.5, 0.5))

  @parameterized.named_parameters(('autoregressive', True), ('factorized', False))
  def test_discrete_log_prob_matches_reference(self, autoregressive):
    net = _make(_multi_discrete([3, 2, 4]), autoregressive)
    _randomize(net)
    states = np.random.RandomState(1).randn(3, EMBEDDING_SIZE).astype(np.float32)
    actions = np.array([[2, 1, 3], [0, 0, 1], [1, 1, 0]], np.int32)
    proposal, _ = net(states)
    self.assertAllClose(proposal.log_prob(actions), _np_discrete_log_prob(net, states, actions),
                        atol=1e-4)
    # Extra sample dimensions in front: [n, B, D] -> [n, B].
    stacked = np.stack([actions, actions[::-1]])
    self.assertAllClose(proposal.log_prob(stacked)[1],
                        _np_discrete_log_prob(net, states, actions[::-1]), atol=1e-4)

  @parameterized.named_parameters(('autoregressive', True), ('factorized', False))
  def test_continuous_log_prob_matches_reference(self, autoregressive):
    net = _make(_box([-2., 0., -1.], [1., 3., 1.]), autoregressive)
    _randomize(net, scale=0.5)
    states = np.random.RandomState(1).randn(3, EMBEDDING_SIZE).astype(np.float32)
    actions = np.array([[0.5, 2.9, -0.3], [-1.9, 0.2, 0.0], [-0.5, 1.5, 0.9]], np.float32)
    proposal, _ = net(states)
    self.assertAllClose(proposal.log_prob(actions),
                        _np_continuous_log_prob(net, states, actions), rtol=1e-4, atol=1e-4)

  def test_continuous_log_prob_is_finite_on_the_bounds(self):
    net = _make(_box([-2., 0.], [1., 3.]))
    proposal, _ = net(tf.random.normal([2, EMBEDDING_SIZE]))
    log_probs = proposal.log_prob(tf.constant([[-2., 3.], [1., 0.]]))
    self.assertTrue(np.all(np.isfinite(log_probs)))

  def test_sample_and_log_prob_agrees_with_log_prob(self):
    net = _make(_box([-2., 0.], [1., 3.]))
    _randomize(net, scale=0.3)
    proposal, _ = net(tf.random.normal([2, EMBEDDING_SIZE]))
    samples, log_probs = proposal.experimental_sample_and_log_prob([3, 5], seed=(5, 6))
    self.assertEqual(samples.shape, (3, 5, 2, 2))
    self.assertAllClose(log_probs, proposal.log_prob(samples), rtol=1e-4, atol=1e-4)

  @parameterized.named_parameters(('discrete', _multi_discrete([3, 5, 2, 4])),
                                  ('continuous', _box([-1., 0., -3., 2.], [1., 4., 3., 2.5])))
  def test_compiled_draws_equal_the_stepwise_draws_with_the_same_noise(self, spec):
    # sample() runs the compiled loop without statistics, sample_and_log_prob the one with
    # them. The same seed draws the same noise, so the actions must agree.
    net = _make(spec)
    _randomize(net, seed=2, scale=0.5)
    proposal, _ = net(tf.random.normal([3, EMBEDDING_SIZE], seed=4))
    compiled = proposal.sample(200, seed=(5, 6))
    stepwise, _ = proposal.experimental_sample_and_log_prob(200, seed=(5, 6))
    self.assertAllClose(compiled, stepwise, atol=1e-5)
    self.assertGreater(len({tuple(a) for a in compiled.numpy().reshape(-1, 4)}), 20)

  def test_inverse_cdf_draw_at_the_top_of_the_unit_interval_stays_valid(self):
    # u c_{V-1} rounded onto c_{V-1} counts every value; the draw is clamped to the last value
    # the sub-action has (index 1 here: index 2 is masked), never past it.
    logits = tf.constant([[0., 0., proposal_network.MASKED_LOGIT]])  # [B=1, V=3]
    for uniform, expected in [(0., 0), (0.49, 0), (0.51, 1), (1., 1)]:
      action, log_prob, _ = proposal_network._discrete_step(
          logits, tf.constant([[uniform]]), with_stats=True, last_value=1, greedy=False)
      self.assertAllEqual(action, [[expected]])
      self.assertAllClose(log_prob, [[np.log(0.5)]])

  # --- normalization and sampling frequencies ----------------------------------------------

  def test_discrete_probabilities_normalize_and_match_sample_frequencies(self):
    num_values = [2, 3, 2]
    net = _make(_multi_discrete(num_values))
    _randomize(net, seed=1, scale=0.5)  # spread over most joint actions, with dependencies
    proposal, _ = net(np.random.RandomState(1).randn(2, EMBEDDING_SIZE).astype(np.float32))
    joint = ActionSpace(_multi_discrete(num_values)).enumerate(0, 12)  # [12, D]
    probs = np.exp(proposal.log_prob(tf.tile(joint[:, None, :], [1, 2, 1])))  # [12, B]
    self.assertAllClose(probs.sum(axis=0), [1., 1.], atol=1e-5)
    self.assertGreater(probs.max(), 0.2)  # far from uniform (1/12)

    num_samples = 4000
    samples = proposal.sample(num_samples, seed=(7, 8)).numpy()  # [n, B, D]
    flat_index = (samples[..., 0] * 3 + samples[..., 1]) * 2 + samples[..., 2]  # [n, B]
    for state in range(2):
      freq = np.bincount(flat_index[:, state], minlength=12) / num_samples
      tolerance = 5 * np.sqrt(probs[:, state] * (1 - probs[:, state]) / num_samples) + 1e-3
      self.assertTrue(np.all(np.abs(freq - probs[:, state]) < tolerance),
                      f'state {state}: frequencies {freq} vs probabilities {probs[:, state]}')

  # --- autoregressive vs factorized --------------------------------------------------------

  def test_autoregressive_learns_a_dependency_the_factorized_cannot(self):
    # Target: a_2 = a_1, each of 3 values equally likely. Best achievable mean log-likelihood:
    # log(1/3) = -1.10 (autoregressive), log(1/9) = -2.20 (factorized: uniform marginals).
    spec = _multi_discrete([3, 3])
    targets = tf.constant([[[0, 0]], [[1, 1]], [[2, 2]]], tf.int32)  # [3, B=1, D]
    state = tf.constant(np.random.RandomState(2).randn(1, EMBEDDING_SIZE), tf.float32)
    final = {}
    for autoregressive in (True, False):
      net = _make(spec, autoregressive, hidden_size=16)
      optimizer = tf.keras.optimizers.Adam(0.05)

      @tf.function
      def train_step(net=net, optimizer=optimizer):
        with tf.GradientTape() as tape:
          proposal, _ = net(state)
          loss = -tf.reduce_mean(proposal.log_prob(targets))
        optimizer.apply_gradients(zip(tape.gradient(loss, net.trainable_variables),
                                      net.trainable_variables))
        return loss

      for _ in range(200):
        loss = train_step()
      final[autoregressive] = -float(loss)
    self.assertGreater(final[True], -1.25)
    self.assertLess(final[False], np.log(1 / 9) + 1e-3)

  # --- entropy -----------------------------------------------------------------------------

  def test_factorized_discrete_entropy_is_exact(self):
    num_values = [2, 3, 4]
    net = _make(_multi_discrete(num_values), autoregressive=False)
    _randomize(net)
    states = np.random.RandomState(1).randn(3, EMBEDDING_SIZE).astype(np.float32)
    params = _np_params(net, states, None)  # [B, D, V], independent of the actions
    expected = np.zeros(3)
    for d, n in enumerate(num_values):
      log_p = _log_softmax(params[:, d, :n])
      expected -= (np.exp(log_p) * log_p).sum(axis=-1)
    proposal, _ = net(states)
    self.assertAllClose(proposal.entropy(), expected, atol=1e-5)

  def test_autoregressive_discrete_entropy_is_unbiased(self):
    num_values = [2, 3, 2]
    net = _make(_multi_discrete(num_values))
    _randomize(net, seed=1, scale=0.5)  # mu(a|s) spread over most of the 12 actions
    state = np.random.RandomState(1).randn(1, EMBEDDING_SIZE).astype(np.float32)
    joint = ActionSpace(_multi_discrete(num_values)).enumerate(0, 12)[:, None, :]  # [12, 1, D]
    proposal, _ = net(state)
    log_probs = proposal.log_prob(joint).numpy()[:, 0]  # [12]
    exact = -(np.exp(log_probs) * log_probs).sum()
    num_draws = 4000
    proposal, _ = net(np.repeat(state, num_draws, axis=0))
    estimates = proposal.entropy().numpy()  # [num_draws], one sampled prefix each
    self.assertGreater(estimates.std(), 0.05)  # the estimate depends on the prefix
    self.assertAllClose(estimates.mean(), exact,
                        atol=5 * estimates.std() / np.sqrt(num_draws) + 1e-3)

  def test_continuous_entropy_matches_numerical_integration(self):
    # One sub-action in [-2, 1], x ~ Normal(0.5, 1) for every state: H(a) = -E_x[log p(a(x))]
    # with log p(a) = log N(x) - log(1 - tanh(x)^2) - log(1.5), integrated on a grid in x.
    net = _make(_box([-2.], [1.]), autoregressive=False)
    net.head_kernel.assign(np.zeros([1, 8, 2], np.float32))
    net.head_bias.assign([[0.5, 0.]])
    x = np.linspace(-12., 12., 200_001)
    log_normal = _np_normal_log_pdf(x, 0.5, 1.)
    log_density = log_normal - 2 * (np.log(2.) - x - np.logaddexp(0., -2 * x)) - np.log(1.5)
    exact = -np.sum(np.exp(log_normal) * log_density) * (x[1] - x[0])
    num_draws = 4000
    proposal, _ = net(tf.random.normal([num_draws, EMBEDDING_SIZE]))
    estimates = proposal.entropy().numpy()
    self.assertAllClose(estimates.mean(), exact,
                        atol=5 * estimates.std() / np.sqrt(num_draws) + 1e-3)

  def test_autoregressive_continuous_entropy_matches_minus_mean_log_prob(self):
    net = _make(_box([-2., 0., -1.], [1., 3., 1.]))
    _randomize(net, scale=0.2)  # not saturated: log_prob clips u within 1e-6 of the bounds
    num_draws = 4000
    state = np.random.RandomState(1).randn(1, EMBEDDING_SIZE).astype(np.float32)
    proposal, _ = net(np.repeat(state, num_draws, axis=0))
    estimates = proposal.entropy().numpy()  # [num_draws]
    minus_log_probs = -proposal.log_prob(proposal.sample(seed=(9, 10))).numpy()  # [num_draws]
    standard_error = np.sqrt((estimates.var() + minus_log_probs.var()) / num_draws)
    self.assertAllClose(estimates.mean(), minus_log_probs.mean(), atol=5 * standard_error)

  def test_entropy_along_a_discrete_prefix_by_reference(self):
    num_values = [2, 3, 4]
    net = _make(_multi_discrete(num_values))
    _randomize(net, seed=3, scale=0.5)
    states = np.random.RandomState(3).randn(3, EMBEDDING_SIZE).astype(np.float32)
    best = np.array([[1, 2, 3], [0, 0, 0], [1, 1, 2]], np.int32)
    prefix = np.array([[0, 1, 2], [1, 2, 0], [0, 0, 3]], np.int32)
    proposal, _ = net(states)
    log_probs, entropies = proposal.log_prob_and_entropy_along(best, prefix)
    self.assertAllClose(log_probs, _np_discrete_log_prob(net, states, best), atol=1e-4)
    params = _np_params(net, states, prefix)  # [B, D, V]
    expected = np.zeros(3)
    for d, n in enumerate(num_values):
      log_p = _log_softmax(params[:, d, :n])
      expected -= (np.exp(log_p) * log_p).sum(axis=-1)
    self.assertAllClose(entropies, expected, atol=1e-4)

  @parameterized.named_parameters(('discrete', _multi_discrete([2, 3, 2]), 0.5),
                                  ('continuous', _box([-2., 0., -1.], [1., 3., 1.]), 0.2))
  def test_entropy_along_drawn_prefixes_is_unbiased(self, spec, scale):
    net = _make(spec)
    _randomize(net, seed=4, scale=scale)  # continuous: not saturated (see above)
    num_draws = 4000
    state = np.random.RandomState(4).randn(1, EMBEDDING_SIZE).astype(np.float32)
    proposal, _ = net(np.repeat(state, num_draws, axis=0))
    prefixes = proposal.sample(seed=(11, 12))  # [num_draws, D], one draw per row
    _, estimates = proposal.log_prob_and_entropy_along(prefixes, prefixes)
    estimates = estimates.numpy()
    minus_log_probs = -proposal.log_prob(proposal.sample(seed=(13, 14))).numpy()
    standard_error = np.sqrt((estimates.var() + minus_log_probs.var()) / num_draws)
    self.assertAllClose(estimates.mean(), minus_log_probs.mean(), atol=5 * standard_error)

  def test_continuous_sample_moments_match_the_density(self):
    # E = H = A = 1, Box low=[-2, 0], high=[1, 3], h = 1: x_1 ~ Normal(0.3, 0.6) and
    # x_2 ~ Normal(-0.5 + 1.5 relu(1 - 2 u_1), 0.5), so a_2 depends on a_1. Moments of 20,000
    # draws against the integral of exp(log_prob) over a 600 x 600 grid of the box.
    low, high = np.array([-2., 0.], np.float32), np.array([1., 3.], np.float32)
    net = _make(_box(low, high), hidden_size=1, embedding_size=1, prefix_size=1)
    net.context_layer.kernel.assign([[0.]])
    net.context_layer.bias.assign([1.])
    net.head_kernel.assign([[[0., 0.]], [[0., 0.]]])
    net.head_bias.assign([[0.3, np.log(0.6)], [-0.5, np.log(0.5)]])
    net.prefix_state_kernel.assign([[[1.]]])
    net.prefix_state_bias.assign([[0.]])
    net.action_embedding.assign([[-2.]])
    net.prefix_head_kernel.assign([[[1.5, 0.]]])
    num_draws, cells = 20000, 600
    proposal, _ = net(tf.zeros([1, 1]))
    samples = proposal.sample(num_draws, seed=(15, 16)).numpy()[:, 0]  # [n, 2]
    grid = [low[d] + (np.arange(cells) + 0.5) * (high[d] - low[d]) / cells for d in range(2)]
    a_1, a_2 = [g.ravel() for g in np.meshgrid(grid[0], grid[1], indexing='ij')]
    points = np.stack([a_1, a_2], axis=-1).astype(np.float32)  # [cells^2, 2]
    density = np.exp(proposal.log_prob(points[:, None, :]).numpy()[:, 0])
    density *= np.prod(high - low) / cells ** 2  # probability mass per cell
    self.assertAllClose(density.sum(), 1., atol=0.01)
    for name, f in (('a_1', lambda a: a[:, 0]), ('a_1^2', lambda a: a[:, 0] ** 2),
                    ('a_2', lambda a: a[:, 1]), ('a_2^2', lambda a: a[:, 1] ** 2),
                    ('a_1 a_2', lambda a: a[:, 0] * a[:, 1])):
      values = f(samples)
      expected = np.sum(density * f(points)) / density.sum()
      self.assertAllClose(values.mean(), expected,
                          atol=4 * values.std() / np.sqrt(num_draws) + 2e-3, msg=name)

  # --- graph mode, SavedModel, network contract --------------------------------------------

  @parameterized.named_parameters(('discrete', _multi_discrete([2, 5, 3])),
                                  ('continuous', _box([-2., 0., -1.], [1., 3., 1.])))
  def test_tf_function_with_unknown_batch_size(self, spec):
    net = _make(spec)
    space = ActionSpace(spec)

    @tf.function(input_signature=[tf.TensorSpec([None, EMBEDDING_SIZE], tf.float32)])
    def proposal_outputs(states):
      proposal, _ = net(states)
      samples = proposal.sample(4)
      return samples, proposal.log_prob(samples), proposal.entropy(), proposal.greedy_action()

    for batch_size in (2, 3):
      samples, log_probs, entropies, greedy = proposal_outputs(
          tf.random.normal([batch_size, EMBEDDING_SIZE]))
      self.assertEqual(samples.shape, (4, batch_size, 3))
      self.assertEqual(samples.dtype, space.dtype)
      self.assertEqual(log_probs.shape, (4, batch_size))
      self.assertEqual(entropies.shape, (batch_size,))
      self.assertEqual(greedy.shape, (batch_size, 3))
      self.assertAllEqual(space.clip(samples), samples)
      self.assertTrue(np.all(np.isfinite(log_probs)) and np.all(np.isfinite(entropies)))

  def test_saved_model_samples_and_scores(self):
    spec = _multi_discrete([2, 5, 3])
    module = tf.Module()
    module.net = _make(spec)
    _randomize(module.net)

    @tf.function(input_signature=[tf.TensorSpec([None, EMBEDDING_SIZE], tf.float32),
                                  tf.TensorSpec([None, 3], tf.int32)])
    def sample_and_score(states, actions):
      proposal, _ = module.net(states)
      return proposal.sample(6), proposal.log_prob(actions)

    module.sample_and_score = sample_and_score
    path = os.path.join(self.get_temp_dir(), 'proposal')
    tf.saved_model.save(module, path)
    loaded = tf.saved_model.load(path)
    states = tf.random.normal([3, EMBEDDING_SIZE])
    actions = tf.constant([[1, 4, 2], [0, 0, 0], [1, 2, 1]], tf.int32)
    samples, log_probs = loaded.sample_and_score(states, actions)
    self.assertEqual(samples.shape, (6, 3, 3))
    self.assertAllEqual(ActionSpace(spec).clip(samples), samples)
    self.assertAllClose(log_probs, sample_and_score(states, actions)[1])

  @parameterized.named_parameters(
      ('discrete_autoregressive', _multi_discrete([2, 3]), True),
      ('discrete_factorized', _multi_discrete([2, 3]), False),
      ('continuous_autoregressive', _box([-1., 0.], [1., 2.]), True),
      ('continuous_factorized', _box([-1., 0.], [1., 2.]), False))
  def test_network_contract_and_gradients(self, spec, autoregressive):
    net = _make(spec, autoregressive)
    self.assertLen(net.trainable_variables, 8 if autoregressive else 4)
    states = tf.random.normal([2, EMBEDDING_SIZE])
    with tf.GradientTape() as tape:
      proposal, state = net(states)
      loss = -tf.reduce_mean(proposal.log_prob(proposal.sample(3))) - tf.reduce_mean(
          proposal.entropy())
    self.assertIsInstance(proposal, AutoregressiveProposal)
    self.assertEqual(state, ())
    self.assertEqual(proposal.batch_shape, [2])
    gradients = tape.gradient(loss, net.trainable_variables)
    for variable, gradient in zip(net.trainable_variables, gradients):
      self.assertIsNotNone(gradient, variable.name)
    target = net.copy(name='TargetProposalNetwork')
    target.create_variables()
    self.assertLen(target.trainable_variables, len(net.trainable_variables))

  def test_seeded_sampling_is_reproducible(self):
    net = _make(_multi_discrete([4, 4, 4]))
    _randomize(net)
    proposal, _ = net(tf.random.normal([2, EMBEDDING_SIZE]))
    self.assertAllEqual(proposal.sample(20, seed=(1, 2)), proposal.sample(20, seed=(1, 2)))
    self.assertNotAllEqual(proposal.sample(20, seed=(1, 2)), proposal.sample(20, seed=(3, 4)))

  def test_validate_args_rejects_out_of_range_discrete_actions(self):
    net = _make(_multi_discrete([2, 3]))
    proposal, _ = net(tf.random.normal([1, EMBEDDING_SIZE]))
    checked = proposal.copy(validate_args=True)
    self.assertTrue(np.isfinite(checked.log_prob([[1, 2]])[0]))
    with self.assertRaises(tf.errors.InvalidArgumentError):
      checked.log_prob([[1, 3]])

  def test_gin_configurable_and_bad_arguments(self):
    gin.parse_config('ProposalNetwork.hidden_size = 3\nProposalNetwork.autoregressive = False')
    net = ProposalNetwork(_multi_discrete([2, 2]), EMBEDDING_SIZE)
    net.create_variables()
    self.assertEqual(net.head_kernel.shape, (2, 3, 2))
    self.assertIsNone(net.action_embedding)
    gin.clear_config()
    gin.parse_config('ProposalNetwork.prefix_size = 5')
    net = ProposalNetwork(_multi_discrete([2, 3, 3]), EMBEDDING_SIZE)
    net.create_variables()
    self.assertEqual(net.action_embedding.shape, (2, 3, 5))
    self.assertEqual(net.prefix_head_kernel.shape, (2, 5, 3))
    gin.clear_config()
    with self.assertRaisesRegex(ValueError, 'prefix_size=0'):
      ProposalNetwork(_box([0.], [1.]), EMBEDDING_SIZE, prefix_size=0)
    with self.assertRaisesRegex(ValueError, 'min_log_std < max_log_std'):
      ProposalNetwork(_box([0.], [1.]), EMBEDDING_SIZE, min_log_std=1., max_log_std=1.)


if __name__ == '__main__':
  tf.test.main()
