"""V-trace against a plain-numpy reference written from the paper's explicit sum (eq. 1)."""
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from tf_aql.agents.vtrace import vtrace

BATCH, TIME = 3, 7


def reference_vtrace(log_rhos, discounts, rewards, values, bootstrap_value, rho_bar, pg_rho_bar,
                     c_bar):
  """Espeholt et al. (2018) eq. 1 as a double loop, no recursion:

  v_s = V(x_s) + sum_{t=s}^{T-1} (prod_{i=s}^{t-1} gamma_i c_i) rho_t (r_t + gamma_t V(x_{t+1})
  - V(x_t)); A_s = rho_pg_s (r_s + gamma_s v_{s+1} - V(x_s)). All arrays [B, T]; bootstrap [B].
  """
  clip = lambda x, bar: x if bar is None else np.minimum(bar, x)
  ratios = np.exp(log_rhos)
  rhos, cs, pg_rhos = clip(ratios, rho_bar), clip(ratios, c_bar), clip(ratios, pg_rho_bar)
  all_values = np.concatenate([values, bootstrap_value[:, None]], axis=1)  # [B, T+1]
  batch, time = values.shape
  vs = np.zeros([batch, time])
  for b in range(batch):
    for s in range(time):
      total = all_values[b, s]
      for t in range(s, time):
        trace = np.prod(discounts[b, s:t] * cs[b, s:t])  # empty product = 1
        delta = rhos[b, t] * (rewards[b, t] + discounts[b, t] * all_values[b, t + 1]
                              - all_values[b, t])
        total += trace * delta
      vs[b, s] = total
  next_vs = np.concatenate([vs[:, 1:], bootstrap_value[:, None]], axis=1)
  return vs, pg_rhos * (rewards + discounts * next_vs - values)


def random_unrolls(seed, gamma=0.9, episode_end_probability=0.2):
  """Random unrolls [B, T] whose discounts are 0 at random steps (episodes end inside)."""
  rng = np.random.default_rng(seed)
  ends = rng.random([BATCH, TIME]) < episode_end_probability
  ends[0, 2] = ends[1, 5] = True  # every draw has episode ends inside an unroll
  return dict(log_rhos=rng.normal(0.0, 1.0, [BATCH, TIME]).astype(np.float32),
              discounts=np.where(ends, 0.0, gamma).astype(np.float32),
              rewards=rng.normal(0.0, 1.0, [BATCH, TIME]).astype(np.float32),
              values=rng.normal(0.0, 1.0, [BATCH, TIME]).astype(np.float32),
              bootstrap_value=rng.normal(0.0, 1.0, [BATCH]).astype(np.float32))


def n_step_returns(discounts, rewards, bootstrap_value):
  """sum_{t>=s} (prod_{i<t} gamma_i) r_t + (prod gamma) V(x_T), a loop over the steps."""
  batch, time = rewards.shape
  returns = np.zeros([batch, time])
  for b in range(batch):
    for s in range(time):
      total, weight = 0.0, 1.0
      for t in range(s, time):
        total += weight * rewards[b, t]
        weight *= discounts[b, t]
      returns[b, s] = total + weight * bootstrap_value[b]
  return returns


class VTraceTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ('paper_defaults', 1.0, 1.0, 1.0, 0),
      ('tight_clips', 0.5, 0.8, 0.3, 1),
      ('loose_clips', 2.0, 1.5, 1.2, 2),
      ('no_clipping', None, None, None, 3),
      ('infinite_thresholds', np.inf, np.inf, np.inf, 4),
      ('rho_only', 1.0, None, np.inf, 5),
  )
  def test_matches_numpy_reference(self, rho_bar, pg_rho_bar, c_bar, seed):
    unroll = random_unrolls(seed)
    vs, advantages = vtrace(**unroll, clip_rho_threshold=rho_bar,
                            clip_pg_rho_threshold=pg_rho_bar, clip_c_threshold=c_bar)
    expected_vs, expected_advantages = reference_vtrace(**unroll, rho_bar=rho_bar,
                                                        pg_rho_bar=pg_rho_bar, c_bar=c_bar)
    self.assertAllClose(vs, expected_vs, atol=1e-5)
    self.assertAllClose(advantages, expected_advantages, atol=1e-5)

  @parameterized.named_parameters(('clipped', 1.0), ('unclipped', None), ('inf', np.inf))
  def test_on_policy_is_n_step_return(self, threshold):
    unroll = random_unrolls(seed=7)
    unroll['log_rhos'] = np.zeros_like(unroll['log_rhos'])
    vs, advantages = vtrace(**unroll, clip_rho_threshold=threshold,
                            clip_pg_rho_threshold=threshold, clip_c_threshold=threshold)
    returns = n_step_returns(unroll['discounts'], unroll['rewards'], unroll['bootstrap_value'])
    self.assertAllClose(vs, returns, atol=1e-5)
    next_returns = np.concatenate([returns[:, 1:], unroll['bootstrap_value'][:, None]], axis=1)
    self.assertAllClose(advantages, unroll['rewards'] + unroll['discounts'] * next_returns
                        - unroll['values'], atol=1e-5)

  def test_episode_end_stops_the_trace(self):
    unroll = random_unrolls(seed=8)
    vs, _ = vtrace(**unroll)
    changed = dict(unroll, rewards=unroll['rewards'].copy(), values=unroll['values'].copy())
    changed['rewards'][0, 3:] += 10.0  # the episode of row 0 ends at step 2 (discount 0)
    changed['values'][0, 3:] -= 5.0
    changed['bootstrap_value'] = unroll['bootstrap_value'] + 3.0
    changed_vs, _ = vtrace(**changed)
    self.assertAllClose(changed_vs[0, :3], vs[0, :3])  # nothing after the end leaks back
    self.assertNotAllClose(changed_vs[0, 3:], vs[0, 3:])

  def test_minus_infinite_log_rho_gives_the_value_and_cuts_the_trace(self):
    unroll = random_unrolls(seed=9)
    unroll['log_rhos'][:, 4] = -np.inf
    vs, advantages = vtrace(**unroll, clip_rho_threshold=None, clip_c_threshold=None)
    expected_vs, expected_advantages = reference_vtrace(**unroll, rho_bar=None, pg_rho_bar=1.0,
                                                        c_bar=None)
    self.assertAllClose(vs, expected_vs, atol=1e-5)
    self.assertAllClose(advantages, expected_advantages, atol=1e-5)
    self.assertAllClose(vs[:, 4], unroll['values'][:, 4])
    self.assertAllClose(advantages[:, 4], np.zeros([BATCH]))

  def test_outputs_have_no_gradient(self):
    unroll = {k: tf.constant(v) for k, v in random_unrolls(seed=10).items()}
    with tf.GradientTape() as tape:
      tape.watch(unroll['values'])
      vs, advantages = vtrace(**unroll)
      total = tf.reduce_sum(vs) + tf.reduce_sum(advantages)
    self.assertIsNone(tape.gradient(total, unroll['values']))

  def test_mismatched_shapes_are_refused(self):
    unroll = random_unrolls(seed=11)
    unroll['rewards'] = unroll['rewards'][:, :-1]
    with self.assertRaisesRegex(ValueError, 'rewards has shape'):
      vtrace(**unroll)


if __name__ == '__main__':
  tf.test.main()
