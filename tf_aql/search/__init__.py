"""Action searches: approximate `argmax_a Q(s, a)` (AQL, Van de Wiele et al., 2020)."""

from tf_aql.search.amortized import AmortizedSearch
from tf_aql.search.base import ActionSearch
from tf_aql.search.base import best_candidates
from tf_aql.search.base import ScoreFn
from tf_aql.search.base import SearchResult
from tf_aql.search.cem import CemSearch
from tf_aql.search.exhaustive import ExhaustiveSearch
from tf_aql.search.uniform import UniformSearch

__all__ = [
    'ActionSearch',
    'AmortizedSearch',
    'CemSearch',
    'ExhaustiveSearch',
    'ScoreFn',
    'SearchResult',
    'UniformSearch',
    'best_candidates',
]
