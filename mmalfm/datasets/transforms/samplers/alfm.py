# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM's region sampler (Fang et al., 2025)."""
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from mmalfm.registry import TASK_UTILS
from mmalfm.structures import boxes_overlap, intersect_boxes
from ._helpers import _as_boxes, _check_range, _np, random_boxes_in
from .overlap import _OverlapRegionSampler

__all__ = ['ALFMRegionSampler']


@TASK_UTILS.register_module()
class ALFMRegionSampler(_OverlapRegionSampler):
    """ALFM's regions inside the two global views' overlap.

    ``O = crop_intersection(g_a, g_b)`` must be non-empty with
    ``overlap_fraction(..., 'min') >= min_overlap``, else None (redraw) or,
    on the last attempt, empty sets and ``no_overlap=True``.

    ``source='proposals'``: candidates are the proposals that overlap ``O``
    (positive area after shrinking ``O`` by ``margin`` px, the SoCo test),
    clipped to ``O``, whose clipped width and height are at least
    ``min_size_frac`` of ``O``'s; ``num_regions`` of them are drawn without
    replacement. Missing regions (fewer candidates) are random boxes inside
    ``O`` with side fractions ``U(random_side)`` (``fallback=True``,
    ``num_random`` of them). ``source='random'`` ignores
    the proposals (``needs_proposals`` is False) and draws all regions at
    random.

    Both sets (views ``a`` and ``b``) hold the same ``num_regions`` source
    boxes with ids ``0..N-1`` (slot index; ``proposal_ids`` gives
    the proposal index + 1, or ``-1`` for random boxes), ``pairs = [(0,
    1)]``. The local patch views are tight crops of the regions: the
    transform builds them (``kind='region_crop'``) from
    ``local_boxes`` (``[N, 4]`` float32 source boxes, row ``r`` =
    region id ``r``, equal to the regions' boxes); the region box of a
    local view is its whole view.

    Args:
        views (tuple[int, int]): the two global views.
        num_regions (int): regions per image.
        source (str): ``'proposals'`` or ``'random'``.
        min_size_frac (float): minimum clipped proposal side, as a fraction
            of the overlap's side.
        random_side (tuple[float, float]): random box side fractions.
        min_overlap (float): minimum overlap fraction (of the smaller crop).
        margin (float): proposal/overlap test margin in source pixels.
    """

    def __init__(self,
                 views: Tuple[int, int] = (0, 1),
                 num_regions: int = 4,
                 source: str = 'proposals',
                 min_size_frac: float = 0.1,
                 random_side: Tuple[float, float] = (0.2, 0.6),
                 min_overlap: float = 0.0,
                 margin: float = 1.0) -> None:
        if source not in ('proposals', 'random'):
            raise ValueError(f"source must be 'proposals' or 'random', got "
                             f'{source!r}')
        self._set_views(views)
        if num_regions < 1 or not 0 <= min_size_frac <= 1:
            raise ValueError(f'need num_regions >= 1 and min_size_frac in '
                             f'[0, 1], got {num_regions}, {min_size_frac}')
        self.num_regions = int(num_regions)
        self.source = source
        self.needs_proposals = source == 'proposals'
        self.min_size_frac = float(min_size_frac)
        self.random_side = _check_range('random_side', random_side)
        self.min_overlap = float(min_overlap)
        self.margin = margin

    def _empty_facts(self) -> dict:
        return dict(fallback=False,
                    num_random=0,
                    proposal_ids=np.zeros(0, np.int64),
                    local_boxes=np.zeros((0, 4), np.float32))

    def _boxes_in(self, region: Tensor, proposals: Optional[np.ndarray],
                  rng: np.random.Generator) -> Tuple[Tensor, dict]:
        chosen = torch.zeros((0, 4), dtype=torch.float64)
        chosen_ids = torch.zeros(0, dtype=torch.long)
        if self.source == 'proposals':
            props = _as_boxes(proposals)
            clipped, _ = intersect_boxes(props, region)
            size = clipped[:, 2:] - clipped[:, :2]
            min_size = self.min_size_frac * (region[2:] - region[:2])
            valid = boxes_overlap(props, region,
                                  self.margin) & (size >= min_size).all(-1)
            cand = torch.nonzero(valid).flatten()
            # Selective search repeats regions and clipping to O merges
            # others; identical boxes would give identical local views
            # under different ids, so keep the first of each.
            _, first = np.unique(clipped[cand].numpy(),
                                 axis=0,
                                 return_index=True)
            cand = cand[torch.as_tensor(np.sort(first), dtype=torch.long)]
            n = min(len(cand), self.num_regions)
            sel = cand[torch.as_tensor(rng.choice(len(cand), n, replace=False),
                                       dtype=torch.long)]
            chosen, chosen_ids = clipped[sel], sel + 1
        num_random = self.num_regions - len(chosen)
        boxes = torch.cat([
            chosen,
            random_boxes_in(region, num_random, self.random_side, rng)
        ])
        prop_ids = torch.cat([chosen_ids,
                              torch.full((num_random, ), -1)]).numpy()
        return boxes, dict(fallback=self.source == 'proposals'
                           and num_random > 0,
                           num_random=num_random,
                           proposal_ids=prop_ids,
                           local_boxes=_np(boxes))
