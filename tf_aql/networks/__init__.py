"""Networks: the state-action critic (with the shared state torso) and the proposal mu(a|s)."""
from tf_aql.networks.critic_network import CriticNetwork
from tf_aql.networks.proposal_network import AutoregressiveProposal, ProposalNetwork
