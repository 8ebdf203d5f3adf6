# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL's window sampler (Yan et al., ICME 2023)."""
from typing import Optional, Tuple

import numpy as np
import torch

from mmalfm.registry import TASK_UTILS
from mmalfm.structures import (ViewGeometry, inside_view, sliding_windows,
                               view_to_src)
from ..regions import BaseRegionSampler, Regions, RegionSet
from ._helpers import _check_views, _np

__all__ = ['CrossCLWindowSampler']

#: Id of CrossCL key windows that are not fully inside the key view.
INVALID_ID = -1


@TASK_UTILS.register_module()
class CrossCLWindowSampler(BaseRegionSampler):
    """CrossCL's sliding windows tracked from the query into the key view.

    The windows (``sliding_windows(view_size, window, stride)``: 6 x 6 of
    48 px at stride 32 in a 224 view, row-major, window ``k`` at
    ``(stride * (k % n), stride * (k // n))``) are defined in the query
    **view** pixels and mapped to source pixels with ``view_to_src`` (flip
    included). Two sets with the same 36 rows and the same source boxes:
    the query set (ids ``0..35``) and the key set, whose id is ``-1``
    (ignored, CrossCL's label ``-1``) where the window is not fully inside
    the key view, tested strictly at the far edge as released
    (``inside_view(..., end_inclusive=False)``). Invalid key rows keep the
    true source rectangle (not the released dummy ``[0, 0, 1, 1]``): only
    the id marks them. ``pairs = [(0, 1)]``; fact ``num_valid``. Never
    asks for a redraw.

    Args:
        query (int): index of the query view.
        key (int): index of the key view.
        view_size (int | tuple[int, int]): query view size ``S`` or
            ``(W, H)``; the query view's ``out_size`` must equal it.
        window (float): window side in query view pixels.
        stride (float): window stride in query view pixels.
    """

    def __init__(self,
                 query: int = 0,
                 key: int = 1,
                 view_size=224,
                 window: float = 48,
                 stride: float = 32) -> None:
        if query == key:
            raise ValueError(f'query and key must differ, got {query}')
        size = (view_size, view_size) if np.isscalar(view_size) \
            else tuple(view_size)
        if window <= 0 or stride <= 0 or window > min(size):
            raise ValueError(f'the window grid (window={window}, '
                             f'stride={stride}) does not fit the view size '
                             f'{view_size}: need 0 < window <= view size '
                             f'and stride > 0')
        self.query, self.key = int(query), int(key)
        self.view_size = tuple(float(s) for s in size)
        self.windows = sliding_windows(size,
                                       window,
                                       stride,
                                       dtype=torch.float64)

    def sample(self, geometry: ViewGeometry, img_shape: Tuple[int, int],
               rng: np.random.Generator, proposals: Optional[np.ndarray],
               attempt: int, last_attempt: bool) -> Optional[Regions]:
        _check_views(geometry, (self.query, self.key), type(self).__name__)
        g_q, g_k = geometry[self.query], geometry[self.key]
        out = tuple(g_q.out_size.tolist())
        if out != self.view_size:
            raise ValueError(f'{type(self).__name__}: the windows are defined '
                             f'for a {self.view_size} query view but view '
                             f'{self.query} has out_size {out}')
        src = view_to_src(self.windows, g_q)
        valid = inside_view(src, g_k, end_inclusive=False)
        ids = torch.arange(len(src))
        key_ids = torch.where(valid, ids, INVALID_ID)
        boxes = _np(src)
        return Regions(sets=[
            RegionSet(self.query, ids.numpy(), boxes),
            RegionSet(self.key, key_ids.numpy(), boxes.copy())
        ],
                       pairs=[(0, 1)],
                       num_valid=int(valid.sum()))
