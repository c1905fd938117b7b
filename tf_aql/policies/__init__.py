"""Policies that act with an action search (greedy) or sample the proposal (exploring)."""
from tf_aql.policies.search_policy import ProposalPolicy, SearchPolicy, search_argmax
