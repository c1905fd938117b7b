"""The docs keep up with the code: every gin knob is documented, every relative link resolves."""
import glob
import inspect
import os
import re

import tensorflow as tf
from absl.testing import parameterized
from gin import config as gin_config

from tf_aql import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The gin references: a knob counts as documented when one of these names it.
KNOB_DOCS = ('docs/CONFIG.md', 'docs/DISTRIBUTED.md')
# Arguments the code supplies (specs, built objects, counters, command-line flags): a binding
# would be overridden or is meaningless, so they are not knobs.
SUPPLIED_BY_CODE = frozenset([
    'self', 'name', 'time_step_spec', 'action_spec', 'input_tensor_spec', 'action_space',
    'train_step', 'train_step_counter', 'root_dir', 'replay_server_address', 'task_id',
    'num_train_steps', 'settings', 'critic_network', 'proposal_network', 'search', 'optimizer',
    'policy_value_network',
    'proposal_optimizer', 'debug_summaries', 'summarize_grads_and_vars',
    'state_embedding_size', 'preprocessing_layers', 'preprocessing_combiner', 'capacity',
    'rate_limiter'])
# The same for one configurable: train_eval passes the environment id and seed to the loader.
SUPPLIED_BY_CODE_FOR = frozenset(['load.env_name', 'load.seed'])
MARKDOWN = sorted([os.path.join(REPO, 'README.md')] +
                  glob.glob(os.path.join(REPO, 'docs', '*.md')))


def tf_aql_knobs():
  """(configurable name, parameter) for every parameter a tf_aql gin binding can set."""
  cli.register_configurables()
  knobs = []
  for _, configurable in sorted(gin_config._REGISTRY.items()):  # pylint: disable=protected-access
    if not (configurable.module or '').startswith(('tf_aql', 'suite_gymnasium')):
      continue
    target = configurable.wrapped
    signature = inspect.signature(target.__init__ if inspect.isclass(target) else target)
    denied = set(configurable.denylist or ())  # e.g. run_learner's `stop`, a Python object
    knobs += [(configurable.name, p) for p in signature.parameters
              if p not in SUPPLIED_BY_CODE and p not in denied and
              f'{configurable.name}.{p}' not in SUPPLIED_BY_CODE_FOR]
  return knobs


def documented(text: str, configurable: str, parameter: str) -> bool:
  """`Name.param` anywhere, or a line that names `Name.` and lists `param` (e.g.
  "| `CemSearch.num_iterations`, `num_samples` | ...")."""
  if f'{configurable}.{parameter}' in text:
    return True
  return any(f'{configurable}.' in line and f'`{parameter}`' in line
             for line in text.splitlines())


class DocsTest(tf.test.TestCase, parameterized.TestCase):

  def test_every_gin_knob_is_documented(self):
    text = '\n'.join(open(os.path.join(REPO, path)).read() for path in KNOB_DOCS)
    knobs = tf_aql_knobs()
    self.assertGreater(len(knobs), 40)  # the registry was read, not an empty list
    missing = [f'{c}.{p}' for c, p in knobs if not documented(text, c, p)]
    self.assertEmpty(missing, f'gin knobs not described in {" or ".join(KNOB_DOCS)}')

  def test_documented_finds_listed_parameters(self):
    text = '| `CemSearch.num_iterations`, `num_samples` | 2, 64 |\n`run_learner.push_period`'
    self.assertTrue(documented(text, 'CemSearch', 'num_samples'))
    self.assertTrue(documented(text, 'run_learner', 'push_period'))
    self.assertFalse(documented(text, 'CemSearch', 'num_elites'))
    self.assertFalse(documented(text, 'UniformSearch', 'num_samples'))

  @parameterized.named_parameters(
      (os.path.relpath(path, REPO).replace('/', '_').replace('.', '_'), path)
      for path in MARKDOWN)
  def test_relative_links_resolve(self, path):
    text = open(path).read()
    targets = re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', text)
    local = [t for t in targets if not re.match(r'[a-z]+:', t)]
    missing = [t for t in local
               if not os.path.exists(os.path.join(os.path.dirname(path), t))]
    self.assertEmpty(missing, f'links in {os.path.relpath(path, REPO)} to missing files')


if __name__ == '__main__':
  tf.test.main()
