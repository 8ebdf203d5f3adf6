# Copyright (c) mmalfm contributors. All rights reserved.
"""Visualization of mmalfm: the view browser (``RegionViewVisualizer``,
built from a pretraining config's own ``MultiViewCrop``; see
``docs/advanced_guides/browse_views.md``)."""
# Our registries are children of MMPretrain's: register its visualization
# modules too, so a config in the mmalfm scope finds them without a prefix.
import mmpretrain.visualization  # noqa: F401

from .colours import GREY, id_colour
from .region_rows import collect_regions, pair_summaries
from .region_view_visualizer import RegionViewVisualizer
from .view_browser import browse_views, compute_proposals
from .view_pipeline import build_view_transform, find_multi_view_crop

__all__ = [
    'RegionViewVisualizer', 'id_colour', 'GREY', 'collect_regions',
    'pair_summaries', 'build_view_transform', 'find_multi_view_crop',
    'browse_views', 'compute_proposals'
]
