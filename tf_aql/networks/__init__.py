"""Networks: the state-action critic (with the shared state torso), the proposal mu(a|s), and the
policy-value network of actor-critic baselines (IMPALA)."""
from tf_aql.networks.critic_network import CriticNetwork
from tf_aql.networks.policy_value_network import PolicyValueNetwork
from tf_aql.networks.proposal_network import AutoregressiveProposal, ProposalNetwork
