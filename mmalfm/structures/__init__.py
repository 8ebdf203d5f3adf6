# Copyright (c) mmalfm contributors. All rights reserved.
"""View geometry and box tracking shared by all methods (pure torch).

Boxes are ``(x1, y1, x2, y2)`` continuous pixel corners (pixel ``i`` spans
``[i, i + 1)``) in source-image pixels unless a name says ``view``; see
``docs/advanced_guides/geometry.md``.
"""
from .box_ops import (box_area, boxes_overlap, grid_in_box, hflip_boxes,
                      intersect_boxes, pairwise_overlap, sliding_windows)
from .region_batch import RegionBatch, Regions, RegionSet, RegionSetBatch
from .soco_convention import (soco_inclusive_boxes, soco_level,
                              to_soco_normalized)
from .transfer import (TransferDeclarationError, TransferSpec,
                       declare_transfer, find_transfer_spec, transfer_specs)
from .view_geometry import (ViewGeometry, clip_to_crop, crop_intersection,
                            feature_grid_to_src, inside_view, intersects_view,
                            overlap_fraction, patch_overlap, src_to_view,
                            view_to_src, view_to_view)

__all__ = [
    'ViewGeometry', 'src_to_view', 'view_to_src', 'view_to_view',
    'clip_to_crop', 'inside_view', 'intersects_view', 'crop_intersection',
    'overlap_fraction', 'feature_grid_to_src', 'patch_overlap', 'box_area',
    'hflip_boxes', 'intersect_boxes', 'boxes_overlap', 'pairwise_overlap',
    'grid_in_box', 'sliding_windows', 'soco_inclusive_boxes',
    'to_soco_normalized', 'soco_level', 'TransferSpec',
    'TransferDeclarationError', 'declare_transfer', 'find_transfer_spec',
    'transfer_specs', 'RegionSet', 'Regions', 'RegionSetBatch', 'RegionBatch'
]
