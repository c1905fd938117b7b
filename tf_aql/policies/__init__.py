"""Policies that act with an action search (greedy) or sample the proposal (exploring); an
ActorPolicy that records log pi(a|s) for off-policy corrections (IMPALA); a wrapper that
exports a policy's actions without its TFP distribution."""
from tf_aql.policies.action_only_policy import ActionOnlyPolicy
from tf_aql.policies.log_probability_policy import LogProbabilityActorPolicy
from tf_aql.policies.search_policy import ProposalPolicy, SearchPolicy, search_argmax
