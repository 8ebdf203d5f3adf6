# Copyright (c) mmalfm contributors. All rights reserved.
"""Where a region set is pooled: its boxes and FPN levels in its view.

A set of a context view is pooled at its tracked boxes, each at SoCo's
scale-aware level (:func:`assign_soco_levels` on the box size in view
pixels). A local patch (``kind='region_crop'``) holds one region that
fills it: pooling the whole patch (``local_box='whole'``) drops the outward
pixel rounding (or crop margin) of the tracked box, and ``local_level``
may fix its level instead of the size rule.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmalfm.structures import RegionSetBatch, ViewGeometry
from .correspondence import assign_soco_levels

__all__ = ['region_set_levels']


def region_set_levels(rb: RegionSetBatch, geom: ViewGeometry, local: bool,
                      local_box: str, local_level: Optional[int],
                      thresholds: Sequence[float]) -> Tuple[Tensor, Tensor]:
    """The boxes and levels at which to pool a region set.

    Args:
        rb (RegionSetBatch): The set: ``ids [N, M]``, ``boxes [N, M, 4]``
            in view pixels.
        geom (ViewGeometry): Its view's geometry, batch shape ``[N]``.
        local (bool): The view is a local patch.
        local_box (str): ``'whole'`` (the whole patch) or ``'region'``
            (the tracked box) for a local patch.
        local_level (int, optional): Fixed level of a local patch; None:
            the size rule.
        thresholds (Sequence[float]): SoCo's level bounds in view pixels.

    Returns:
        tuple[Tensor, Tensor]: ``boxes [N, M, 4]`` and ``levels [N, M]``
        (int64, ``-1`` for boxes beyond the last threshold).
    """
    boxes = rb.boxes
    if local and local_box == 'whole':
        boxes = geom.view_box.to(boxes)[:, None].expand_as(boxes)
    if local and local_level is not None:
        levels = torch.full_like(rb.ids, local_level)
    else:
        levels = assign_soco_levels(boxes, geom, thresholds)
    return boxes, levels.clamp(min=-1)
