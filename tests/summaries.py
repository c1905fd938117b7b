"""Test helper: the TensorBoard summary tags a run wrote."""
import glob
import os
from typing import Set

import tensorflow as tf


def event_tags(directory: str) -> Set[str]:
  """Tags of every summary value in `directory`'s event files (not recursive)."""
  tags = set()
  for path in glob.glob(os.path.join(directory, 'events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags
