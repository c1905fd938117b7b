"""AQL's core claim on a known critic: a proposal trained toward the search's argmax makes the
amortized search find the exact optimum of a 10^8-action space, where uniform search does not."""
import gin
import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec

from tf_aql.action_space import ActionSpace
from tf_aql.agents import losses
from tf_aql.networks.proposal_network import ProposalNetwork
from tf_aql.search.amortized import AmortizedSearch
from tf_aql.search.uniform import UniformSearch

NUM_DIMS, NUM_VALUES, BATCH, EMBEDDING = 8, 10, 3, 8


class AmortizedTrainingTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    tf.random.set_seed(0)

  def test_trained_proposal_finds_optimum_uniform_does_not(self):
    spec = tensor_spec.BoundedTensorSpec([NUM_DIMS], tf.int32, [0] * NUM_DIMS,
                                         [NUM_VALUES - 1] * NUM_DIMS)
    space = ActionSpace(spec)
    rng = np.random.RandomState(0)
    optimum = tf.constant(rng.randint(0, NUM_VALUES, [BATCH, NUM_DIMS]), tf.int32)  # [B, D]
    embedding = tf.constant(rng.normal(size=[BATCH, EMBEDDING]), tf.float32)  # [B, E]

    def score_fn(candidates):  # [B, K, D] -> [B, K]: minus the number of wrong sub-actions
      wrong = tf.not_equal(candidates, optimum[:, tf.newaxis, :])
      return -tf.reduce_sum(tf.cast(wrong, tf.float32), axis=-1)

    proposal_network = ProposalNetwork(spec, EMBEDDING, hidden_size=32)
    proposal_network.create_variables()
    optimizer = tf.keras.optimizers.Adam(1e-2)
    amortized = AmortizedSearch(space, num_proposal_samples=100, num_uniform_samples=400)
    uniform = UniformSearch(space, num_uniform_samples=500)

    @tf.function
    def train_step():
      with tf.GradientTape() as tape:
        proposal, _ = proposal_network(embedding)
        best = amortized(score_fn, BATCH, proposal=proposal)
        loss = losses.proposal_loss(proposal.log_prob(best.best_actions), proposal.entropy(),
                                    entropy_weight=0.01)
      variables = proposal_network.trainable_variables
      optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    for _ in range(300):
      train_step()

    def found_rate(search, with_proposal):
      found = []
      for _ in range(10):
        proposal = proposal_network(embedding)[0] if with_proposal else None
        best = search(score_fn, BATCH, proposal=proposal)
        found.append(tf.reduce_all(tf.equal(best.best_actions, optimum), axis=-1).numpy())
      return np.mean(found)

    amortized_rate = found_rate(amortized, True)
    uniform_rate = found_rate(uniform, False)
    self.assertGreaterEqual(amortized_rate, 0.9)
    self.assertLessEqual(uniform_rate, 0.1)  # 500 / 10^8 chance per state


if __name__ == '__main__':
  tf.test.main()
