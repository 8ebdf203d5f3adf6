# Copyright (c) mmalfm contributors. All rights reserved.
"""Offline region proposals: SoCo's selective search, its filters and the
proposal file format (``docs/advanced_guides/proposals.md``).

Only numpy / scipy / scikit-image are needed here; the generator CLI is
``tools/data/selective_search.py``.
"""
from .filters import (filter_min_size, filter_post, filter_ratio,
                      filter_ratio_size, parse_strategy)
from .io import (FORMAT, VERSION, atomic_open, load_proposals,
                 read_proposal_file, save_proposals, xywh_to_xyxy)
from .selective_search import selective_search

__all__ = [
    'selective_search', 'filter_min_size', 'filter_ratio',
    'filter_ratio_size', 'filter_post', 'parse_strategy', 'FORMAT',
    'VERSION', 'atomic_open', 'load_proposals', 'read_proposal_file',
    'save_proposals', 'xywh_to_xyxy'
]
