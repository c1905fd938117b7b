"""Tests of the state-action critic."""
import gin
import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from tf_agents.specs import tensor_spec

from tf_aql.networks.critic_network import CriticNetwork

OBS_SPEC = tensor_spec.TensorSpec([3], tf.float32)
DISCRETE_SPEC = tensor_spec.BoundedTensorSpec([2], tf.int64, [0, 0], [2, 3])
CONTINUOUS_SPEC = tensor_spec.BoundedTensorSpec([2], tf.float32, [-1., 0.], [1., 4.])


class CriticNetworkTest(tf.test.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  @parameterized.named_parameters(('discrete', DISCRETE_SPEC), ('continuous', CONTINUOUS_SPEC))
  def test_call_matches_score(self, action_spec):
    critic = CriticNetwork((OBS_SPEC, action_spec), torso_fc_layer_params=(8,),
                           head_fc_layer_params=(8, 4))
    critic.create_variables()
    observation = tf.random.normal([3, 3], seed=1)
    actions = tensor_spec.sample_spec_nest(action_spec, outer_dims=[3], seed=2)
    q_values, _ = critic((observation, actions))
    self.assertEqual(q_values.shape, [3])
    internal = critic.action_space.from_spec(actions)[:, None, :]
    scored = critic.score(critic.embed(observation), internal)[:, 0]
    self.assertAllClose(q_values, scored)

  def test_constant_weights_give_hand_computed_value(self):
    # All kernels 0.1, biases 0: torso h = relu(0.1 * sum(obs)) per unit (width 2);
    # head layer 1: relu(0.1 * sum(h) + 0.1 * sum(features)); q = 0.1 * sum(hidden) (width 2).
    critic = CriticNetwork(
        (OBS_SPEC, CONTINUOUS_SPEC), torso_fc_layer_params=(2,), head_fc_layer_params=(2,),
        kernel_initializer=tf.keras.initializers.Constant(0.1))
    critic.create_variables()
    observation = tf.constant([[1., 2., 3.]])
    action = tf.constant([[1., 4.]])  # both at the upper bound -> features [1, 1]
    h_torso = 0.1 * 6.0
    h_head = max(0.0, 0.1 * 2 * h_torso + 0.1 * 2.0)
    expected = 0.1 * 2 * h_head
    q_values, _ = critic((observation, action))
    self.assertAllClose(q_values, [expected])

  def test_state_value_head_adds_a_hand_computed_state_value(self):
    # As above, plus v = 0.1 * sum(h_torso) (width 2) added to every candidate's Q.
    critic = CriticNetwork(
        (OBS_SPEC, CONTINUOUS_SPEC), torso_fc_layer_params=(2,), head_fc_layer_params=(2,),
        kernel_initializer=tf.keras.initializers.Constant(0.1), state_value_head=True)
    critic.create_variables()
    h_torso = 0.1 * 6.0
    candidates = tf.constant([[[1., 4.], [-1., 0.]]])  # features [1, 1] and [-1, -1]
    head = [0.1 * 2 * max(0.0, 0.1 * 2 * h_torso + 0.1 * f) for f in (2.0, -2.0)]
    value = 0.1 * 2 * h_torso
    q_values = critic.score(critic.embed(tf.constant([[1., 2., 3.]])), candidates)
    self.assertAllClose(q_values, [[head[0] + value, head[1] + value]])
    q_value, _ = critic((tf.constant([[1., 2., 3.]]), tf.constant([[1., 4.]])))
    self.assertAllClose(q_value, [head[0] + value])

  def test_scoring_runs_torso_once_per_state(self):
    critic = CriticNetwork((OBS_SPEC, DISCRETE_SPEC), torso_fc_layer_params=(8,),
                           head_fc_layer_params=(8,))
    critic.create_variables()
    rows_seen = []
    torso = critic._torso

    def counting_torso(observation, **kwargs):
      rows_seen.append(int(tf.shape(observation)[0]))
      return torso(observation, **kwargs)

    critic._torso = counting_torso
    batch_size, num_candidates = 3, 50
    embedding = critic.embed(tf.zeros([batch_size, 3]))
    candidates = tf.zeros([batch_size, num_candidates, 2], tf.int32)
    q_values = critic.score(embedding, candidates)
    self.assertEqual(q_values.shape, [batch_size, num_candidates])
    self.assertEqual(rows_seen, [batch_size])  # one torso pass over B rows, not B*K

  def test_candidates_scored_like_single_actions(self):
    critic = CriticNetwork((OBS_SPEC, DISCRETE_SPEC), torso_fc_layer_params=(8,),
                           head_fc_layer_params=(8, 8))
    critic.create_variables()
    observation = tf.random.normal([2, 3], seed=3)
    candidates = tf.constant([[[0, 0], [2, 3], [1, 2]], [[1, 1], [0, 3], [2, 0]]], tf.int32)
    batched = critic.score(critic.embed(observation), candidates)
    for k in range(3):
      single, _ = critic((observation, tf.cast(candidates[:, k], tf.int64)))
      self.assertAllClose(batched[:, k], single)


  @parameterized.named_parameters(
      ('one_hot', 'one_hot', False), ('one_hot_and_ordinal', 'one_hot_and_ordinal', False),
      ('ordinal_layer_norm', 'one_hot_and_ordinal', True))
  def test_gathered_discrete_scoring_equals_the_feature_matmul(self, encoding, layer_norm):
    # `score` sums D gathered rows of one [D*V, H] table; the reference multiplies the one-hot
    # features by W_a and (ordinal encoding) each sub-action's level u_d(a_d) by its row w_d,
    # written out here from the variables. Values and gradients must agree.
    spec = tensor_spec.BoundedTensorSpec([5], tf.int32, [0] * 5, [2, 6, 3, 6, 1])
    critic = CriticNetwork((OBS_SPEC, spec), torso_fc_layer_params=(16,),
                           head_fc_layer_params=(32, 8), discrete_action_encoding=encoding,
                           layer_norm=layer_norm)
    critic.create_variables()
    space = critic.action_space
    observation = tf.random.normal([4, 3], seed=5)
    candidates = space.sample_uniform([4, 50], seed=6)  # [B, K, D]

    def reference_score(embedding):
      # pylint: disable=protected-access
      one_hot = tf.one_hot(candidates, space.max_num_values)  # [B, K, D, V]
      kernel = tf.reshape(critic._action_projection.kernel,
                          [space.num_dims, space.max_num_values, -1])  # [D, V, H]
      hidden = tf.einsum('bkdv,dvh->bkh', one_hot, kernel)
      if encoding == 'one_hot_and_ordinal':
        levels = tf.gather(space.ordinal_values(), candidates, axis=1, batch_dims=0)
        levels = tf.einsum('dbkd->bkd', levels)  # [B, K, D]: u_d(a_d)
        hidden += tf.einsum('bkd,dh->bkh', levels, critic._ordinal_projection.kernel)
      hidden += critic._state_projection(embedding)[:, None, :]
      if layer_norm:
        hidden = critic._first_norm(hidden)
      return critic._head(tf.nn.relu(hidden), False)

    results = []
    for score_fn in (lambda e: critic.score(e, candidates), reference_score):
      with tf.GradientTape() as tape:
        q_values = score_fn(critic.embed(observation))
        loss = tf.reduce_sum(tf.sin(q_values))
      results.append((q_values, tape.gradient(loss, critic.trainable_variables)))
    (gathered, gathered_grads), (reference, reference_grads) = results
    self.assertAllClose(gathered, reference, rtol=1e-5, atol=1e-5)
    self.assertGreater(float(tf.math.reduce_std(gathered)), 1e-3)  # not a constant
    for variable, a, b in zip(critic.trainable_variables, gathered_grads, reference_grads):
      self.assertAllClose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), rtol=1e-4,
                          atol=1e-5, msg=variable.name)
    # The dense path (continuous actions' path, one-hot features here) is the same function.
    # pylint: disable=protected-access
    state_part = critic._state_projection(critic.embed(observation))
    dense = critic._dense_first_layer(state_part, candidates)
    if layer_norm:
      dense = tf.nn.relu(critic._first_norm(dense))
    self.assertAllClose(critic._head(dense, False), reference, rtol=1e-5, atol=1e-5)

  def test_ordinal_encoding_is_auto_for_ordered_values_only(self):
    ordered = tensor_spec.BoundedTensorSpec([2], tf.int64, 0, 4, name='ordered_action')
    plain = tensor_spec.BoundedTensorSpec([2], tf.int64, 0, 4, name='action')
    counts = []
    for spec in (ordered, plain, CONTINUOUS_SPEC):
      critic = CriticNetwork((OBS_SPEC, spec), torso_fc_layer_params=(4,),
                             head_fc_layer_params=(4,))
      critic.create_variables()
      counts.append(len(critic.trainable_variables))
    # torso (2) + state projection (2) + action projection (1) + q layer (2), and for ordered
    # values the ordinal rows w_d (1).
    self.assertEqual(counts, [8, 7, 7])

  def test_observation_normalization_standardizes_with_running_statistics(self):
    critic = CriticNetwork((OBS_SPEC, DISCRETE_SPEC), torso_fc_layer_params=(8,),
                           head_fc_layer_params=(8,), normalize_observations=True)
    critic.create_variables()
    data = np.random.RandomState(0).normal([10.0, -5.0, 0.0], [2.0, 1.0, 3.0], size=(500, 3))
    critic.update_observation_statistics(tf.constant(data[:200], tf.float32))
    critic.update_observation_statistics(tf.constant(data[200:], tf.float32))  # streaming
    observation = tf.constant(data[:4], tf.float32)
    standardized = np.clip((data[:4] - data.mean(0)) / np.sqrt(data.var(0) + 1e-3), -5, 5)
    # pylint: disable=protected-access
    expected, _ = critic._torso(tf.constant(standardized, tf.float32))
    self.assertAllClose(critic.embed(observation), expected, rtol=1e-3, atol=1e-4)
    self.assertLen(critic.trainable_variables, 7)  # the statistics are not trained
    self.assertLen(critic.variables, 11)  # but are variables: copied, saved and exported

  def test_observation_normalization_of_integer_observations_is_a_clear_error(self):
    spec = tensor_spec.BoundedTensorSpec([], tf.int64, 0, 4)
    with self.assertRaisesRegex(ValueError, 'normalize_observations needs float observations'):
      CriticNetwork((spec, DISCRETE_SPEC), normalize_observations=True)

  @parameterized.named_parameters(('discrete', DISCRETE_SPEC), ('continuous', CONTINUOUS_SPEC))
  def test_scoring_in_passes_equals_one_pass(self, action_spec):
    # 3 states x 10 candidates = 30 rows; at most 7 rows per pass: 5 passes of 2 candidates.
    kwargs = dict(torso_fc_layer_params=(8,), head_fc_layer_params=(8, 4),
                  kernel_initializer=tf.keras.initializers.RandomNormal(seed=3))
    split = CriticNetwork((OBS_SPEC, action_spec), max_rows_per_scoring_pass=7, **kwargs)
    whole = CriticNetwork((OBS_SPEC, action_spec), max_rows_per_scoring_pass=None, **kwargs)
    for critic in (split, whole):
      critic.create_variables()
    whole.set_weights(split.get_weights())
    self.assertEqual(split._pass_sizes(tf.zeros([3, 10, 2])), [2, 2, 2, 2, 2])
    self.assertEqual(split._pass_sizes(tf.zeros([3, 11, 2])), [3, 2, 2, 2, 2])
    self.assertEqual(split._pass_sizes(tf.zeros([2, 3, 2])), [3])  # 6 rows: one pass
    observation = tf.random.normal([3, 3], seed=1)
    candidates = split.action_space.sample_uniform([3, 10], seed=4)  # static [3, 10, 2]
    self.assertAllClose(split.score(split.embed(observation), candidates),
                        whole.score(whole.embed(observation), candidates), rtol=1e-6, atol=1e-6)

    @tf.function(input_signature=[tf.TensorSpec([None, 3]), tf.TensorSpec(
        [None, 10, 2], split.action_space.dtype)])
    def score_unknown_batch(observation, candidates):  # B unknown: one pass, same values
      return split.score(split.embed(observation), candidates)
    self.assertAllClose(score_unknown_batch(observation, candidates),
                        whole.score(whole.embed(observation), candidates), rtol=1e-6, atol=1e-6)

  def test_bad_max_rows_per_scoring_pass_is_a_clear_error(self):
    with self.assertRaisesRegex(ValueError, 'max_rows_per_scoring_pass must be a positive'):
      CriticNetwork((OBS_SPEC, DISCRETE_SPEC), max_rows_per_scoring_pass=0)

  def test_unknown_encoding_is_a_clear_error(self):
    with self.assertRaisesRegex(ValueError, 'discrete_action_encoding'):
      CriticNetwork((OBS_SPEC, DISCRETE_SPEC), discrete_action_encoding='thermometer')


if __name__ == '__main__':
  tf.test.main()
