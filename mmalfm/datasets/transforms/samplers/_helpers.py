# Copyright (c) mmalfm contributors. All rights reserved.
"""Small helpers shared by the region samplers (boxes, checks, overlap)."""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmalfm.structures import ViewGeometry, crop_intersection, overlap_fraction
from ..regions import RegionSet

__all__ = ['random_boxes_in']


def _as_boxes(boxes: Optional[np.ndarray]) -> Tensor:
    """``[P, 4]`` float64 CPU tensor from an array (None -> no boxes)."""
    if boxes is None:
        return torch.zeros((0, 4), dtype=torch.float64)
    return torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))


def _np(boxes: Tensor) -> np.ndarray:
    """``[M, 4]`` float32 numpy boxes."""
    return boxes.reshape(-1, 4).numpy().astype(np.float32)


def _check_views(geometry: ViewGeometry, views: Sequence[int],
                 name: str) -> None:
    """Raise if ``geometry`` lacks one of ``views``."""
    shape = tuple(geometry.batch_shape)
    if len(shape) != 1 or max(views) >= shape[0]:
        raise ValueError(f'{name} needs views {tuple(views)} but the '
                         f'geometry has batch shape {shape} (expected [K] '
                         f'with K > {max(views)})')


def _empty_set(view: int) -> RegionSet:
    return RegionSet(view, np.zeros(0, np.int64), np.zeros((0, 4), np.float32))


def _check_range(name: str, value: Sequence[float]) -> Tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not 0 < lo <= hi <= 1:
        raise ValueError(f'{name} must satisfy 0 < lo <= hi <= 1, got '
                         f'{tuple(value)}')
    return lo, hi


def random_boxes_in(region: Tensor, num: int, side: Tuple[float, float],
                    rng: np.random.Generator) -> Tensor:
    """``num`` random boxes inside ``region``.

    Width and height are independent fractions ``U(side)`` of the region's
    width and height; the top-left corner is uniform among the positions
    that keep the box inside the region.

    Args:
        region (Tensor): ``[4]`` source box.
        num (int): number of boxes.
        side (tuple[float, float]): ``(lo, hi)`` side fractions.
        rng (np.random.Generator): randomness.

    Returns:
        Tensor: ``[num, 4]`` boxes (dtype of ``region``).
    """
    frac = torch.as_tensor(rng.uniform(side[0], side[1], (num, 2)),
                           dtype=region.dtype)
    pos = torch.as_tensor(rng.random((num, 2)), dtype=region.dtype)
    size = region[2:] - region[:2]
    wh = frac * size
    xy1 = region[:2] + pos * (size - wh)
    return torch.cat([xy1, xy1 + wh], dim=-1)


def _overlap_ok(g_a: ViewGeometry, g_b: ViewGeometry,
                min_overlap: float) -> Tuple[Tensor, bool, float]:
    """Overlap rectangle, whether it passes ``min_overlap``, its fraction."""
    region, nonempty = crop_intersection(g_a, g_b)
    frac = float(overlap_fraction(g_a, g_b, 'min'))
    return region, bool(nonempty) and frac >= min_overlap, frac
