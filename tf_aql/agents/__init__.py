"""The agents: AQL (and its search variants) with its pure loss functions; IMPALA with V-trace."""
from tf_aql.agents.aql_agent import AqlAgent, AqlLossInfo
from tf_aql.agents.impala_agent import ImpalaAgent, ImpalaLossInfo
from tf_aql.agents.vtrace import VTraceReturns, vtrace
