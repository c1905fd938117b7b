"""What every distributed role does first: seeds, thread limits, console lines."""

import sys

import tensorflow as tf


def log(role: str, message: str) -> None:
  """One console line, prefixed with the role; the launcher tails the learner's."""
  print(f'[{role}] {message}', file=sys.stdout, flush=True)


def seed_everything(seed: int) -> None:
  """Seeds Python's random, NumPy and TensorFlow (Keras initializers draw from all three)."""
  tf.keras.utils.set_random_seed(seed)


def limit_threads(num_threads: int = 1) -> None:
  """Keeps an acting role to `num_threads` TF threads, so many roles share a few cores.

  Must run before TensorFlow executes its first op; later calls are ignored.
  """
  try:
    tf.config.threading.set_intra_op_parallelism_threads(num_threads)
    tf.config.threading.set_inter_op_parallelism_threads(num_threads)
  except RuntimeError:
    pass

