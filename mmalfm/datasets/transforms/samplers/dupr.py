# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR's grid sampler (Ding, Xie et al., TPAMI 2024)."""
from typing import Optional, Tuple

import numpy as np
from torch import Tensor

from mmalfm.registry import TASK_UTILS
from mmalfm.structures import grid_in_box
from ._helpers import _check_range, random_boxes_in
from .overlap import _OverlapRegionSampler

__all__ = ['DUPRGridSampler']


@TASK_UTILS.register_module()
class DUPRGridSampler(_OverlapRegionSampler):
    """DUPR's patch identities: a grid over the two views' overlap.

    ``O = crop_intersection(g_a, g_b)``. While ``overlap_fraction(g_a, g_b,
    'min') < min_overlap`` (or ``O`` is empty) the sampler returns None
    (redraw); on the last attempt it returns two empty sets and
    ``no_overlap=True`` (the image contributes only the global
    loss). Otherwise both sets hold the same source boxes: ``mode='grid'``
    the ``grid x grid`` cells of ``O`` (``grid_in_box``, row-major, cell
    ``k`` has id ``k``); ``mode='random'`` ``num_random`` boxes inside ``O``
    with width and height fractions ``U(random_side)`` of ``O``'s (ids
    ``0..N-1``). Cells lie inside both views by construction. ``pairs =
    [(0, 1)]`` (the loss symmetrises); facts: ``no_overlap``,
    ``overlap`` (the fraction).

    Args:
        views (tuple[int, int]): the two views.
        grid (int | tuple[int, int]): ``S`` or ``(rows, cols)``.
        min_overlap (float): minimum overlap fraction (of the smaller crop).
        mode (str): ``'grid'`` or ``'random'``.
        num_random (int): boxes in ``'random'`` mode.
        random_side (tuple[float, float]): side fractions in ``'random'``.
    """

    def __init__(
        self,
        views: Tuple[int, int] = (0, 1),
        grid=4,
        min_overlap: float = 0.1,
        mode: str = 'grid',
        num_random: int = 16,
        random_side: Tuple[float, float] = (0.25, 0.5)
    ) -> None:
        if mode not in ('grid', 'random'):
            raise ValueError(f"mode must be 'grid' or 'random', got {mode!r}")
        self._set_views(views)
        rows, cols = (grid, grid) if np.isscalar(grid) else grid
        if rows < 1 or cols < 1 or num_random < 1:
            raise ValueError(f'grid and num_random must be >= 1, got {grid}, '
                             f'{num_random}')
        self.grid = (int(rows), int(cols))
        self.min_overlap = float(min_overlap)
        self.mode = mode
        self.num_random = int(num_random)
        self.random_side = _check_range('random_side', random_side)

    def _boxes_in(self, region: Tensor, proposals: Optional[np.ndarray],
                  rng: np.random.Generator) -> Tuple[Tensor, dict]:
        if self.mode == 'grid':
            return grid_in_box(region, self.grid), {}
        return random_boxes_in(region, self.num_random, self.random_side,
                               rng), {}
