# Copyright (c) mmalfm contributors. All rights reserved.
"""The base of the samplers whose regions lie in two views' overlap."""
from abc import abstractmethod
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmalfm.structures import ViewGeometry
from ..regions import BaseRegionSampler, Regions, RegionSet
from ._helpers import _check_views, _empty_set, _np, _overlap_ok


class _OverlapRegionSampler(BaseRegionSampler):
    """Shared by DUPR and ALFM: two views, regions inside their overlap.

    ``O = crop_intersection(g_a, g_b)``. While ``O`` is empty or
    ``overlap_fraction(g_a, g_b, 'min') < min_overlap`` the sampler asks for
    new crops (None); on the last attempt it returns two empty sets with
    ``no_overlap=True`` (plus :meth:`_empty_facts`). Otherwise
    :meth:`_boxes_in` picks the source boxes inside ``O``; both sets hold
    them with ids ``0..N-1`` and ``pairs = [(0, 1)]``.
    """

    views: Tuple[int, int]
    min_overlap: float

    def _set_views(self, views: Sequence[int]) -> None:
        if len(views) != 2 or views[0] == views[1]:
            raise ValueError(f'views must be two different views, got {views}')
        self.views = tuple(int(v) for v in views)

    def sample(self, geometry: ViewGeometry, img_shape: Tuple[int, int],
               rng: np.random.Generator, proposals: Optional[np.ndarray],
               attempt: int, last_attempt: bool) -> Optional[Regions]:
        _check_views(geometry, self.views, type(self).__name__)
        a, b = self.views
        region, ok, frac = _overlap_ok(geometry[a], geometry[b],
                                       self.min_overlap)
        if not ok:
            if not last_attempt:
                return None
            return Regions([_empty_set(a), _empty_set(b)], [(0, 1)],
                           no_overlap=True,
                           overlap=frac,
                           **self._empty_facts())
        boxes, facts = self._boxes_in(region.to(torch.float64), proposals,
                                      rng)
        ids = np.arange(len(boxes), dtype=np.int64)
        boxes = _np(boxes)
        return Regions(
            [RegionSet(a, ids, boxes),
             RegionSet(b, ids.copy(), boxes.copy())], [(0, 1)],
            no_overlap=False,
            overlap=frac,
            **facts)

    @abstractmethod
    def _boxes_in(self, region: Tensor, proposals: Optional[np.ndarray],
                  rng: np.random.Generator) -> Tuple[Tensor, dict]:
        """``[N, 4]`` float64 source boxes inside ``region`` and the
        :class:`Regions` facts they decide (keyword arguments)."""

    def _empty_facts(self) -> dict:
        """Extra :class:`Regions` facts of an image without overlap."""
        return {}
