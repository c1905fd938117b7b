"""The AQL agent and its pure loss functions."""
from tf_aql.agents.aql_agent import AqlAgent, AqlLossInfo
