"""Test helper: the TensorBoard summary tags a run wrote."""
import glob
import os
from typing import List, Set, Tuple

import tensorflow as tf


def event_tags(directory: str) -> Set[str]:
  """Tags of every summary value in `directory`'s event files (not recursive)."""
  tags = set()
  for path in glob.glob(os.path.join(directory, 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags


def scalar_values(directory: str, tag: str) -> List[Tuple[int, float]]:
  """(step, value) of every summary of `tag` in `directory`'s event files, by step."""
  values = []
  for path in glob.glob(os.path.join(directory, 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      values += [(event.step, float(tf.make_ndarray(v.tensor)))
                 for v in event.summary.value if v.tag == tag]
  return sorted(values)
