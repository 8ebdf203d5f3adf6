# Copyright (c) mmalfm contributors. All rights reserved.
"""Offline region proposals: SoCo's selective search, its filters, the
proposal file format, the binary proposal store and multi-machine parts
(``docs/advanced_guides/proposals.md``).

Only numpy / scipy / scikit-image are needed here; the command line tools
are ``tools/data/selective_search.py``, ``detector_proposals.py``,
``merge_proposals.py`` and ``convert_proposals.py``.
"""
from .files import (convert_proposals, iter_images, open_writer,
                    read_proposals, write_record, writes_store)
from .filters import (filter_min_size, filter_post, filter_ratio,
                      filter_ratio_size, parse_strategy, sort_stages)
from .images import IMG_EXTENSIONS, list_images
from .io import (FORMAT, VERSION, JSONProposalWriter, atomic_open,
                 load_proposals, read_proposal_file, save_proposals,
                 xywh_to_xyxy)
from .parts import (PartError, find_parts, merge_parts, part_block,
                    part_path, part_range, resolve_part)
from .selective_search import selective_search
from .store import ProposalStore, ProposalStoreWriter, is_store

__all__ = [
    'selective_search', 'filter_min_size', 'filter_ratio',
    'filter_ratio_size', 'filter_post', 'parse_strategy', 'sort_stages',
    'FORMAT', 'VERSION', 'atomic_open', 'load_proposals',
    'read_proposal_file', 'save_proposals', 'xywh_to_xyxy',
    'JSONProposalWriter', 'ProposalStore', 'ProposalStoreWriter', 'is_store',
    'open_writer', 'read_proposals', 'iter_images', 'write_record',
    'writes_store', 'convert_proposals', 'IMG_EXTENSIONS', 'list_images',
    'PartError', 'find_parts', 'merge_parts', 'part_block', 'part_path',
    'part_range', 'resolve_part'
]
