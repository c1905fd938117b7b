"""Environments: the gymnasium suite, Box discretization and the synthetic chain tasks.

Importing this package registers the synthetic task ids (including HybridChain) with gymnasium.
"""

from tf_aql.environments import hybrid_chain  # Registers the HybridChain ids.
from tf_aql.environments import synthetic  # Registers the synthetic ids.
from tf_aql.environments.discretize import DiscretizeBoxAction
from tf_aql.environments.suite_gymnasium import GymnasiumEnvironment
from tf_aql.environments.suite_gymnasium import load

__all__ = ['DiscretizeBoxAction', 'GymnasiumEnvironment', 'hybrid_chain', 'load', 'synthetic']
