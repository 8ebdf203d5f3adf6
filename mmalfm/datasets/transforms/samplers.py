# Copyright (c) mmalfm contributors. All rights reserved.
"""Region samplers of SoCo, CrossCL, DUPR and ALFM.

Each sampler implements the :class:`~.regions.BaseRegionSampler` contract:
given the ``K`` drawn views of one image (a :class:`ViewGeometry` of batch
shape ``[K]``), it returns :class:`~.regions.Regions` -- region sets of ids
and **source-pixel** boxes (continuous corners, see
``docs/advanced_guides/geometry.md``) whose pairs are matched by id equality
-- or None to ask the transform for new crops. All geometry goes through
:mod:`mmalfm.structures`; boxes are vectorised (no Python loop over boxes),
and the only randomness is the ``rng`` passed in, so the output is a pure
function of ``(geometry, img_shape, proposals, rng, attempt, last_attempt)``.

Summary (each method's details: ``configs/<method>/README.md``):

=====================  ===================================================
sampler                sets / pairs / ids
=====================  ===================================================
SoCoRegionSampler      per directed view pair ``(a, b)``: the a-side set
                       (V1 copy, jittered) and the b-side set, always
                       ``padding_k`` rows each; ids = proposal index + 1
                       (the released ``append_prop_id``), ``-1`` for the
                       whole-view fallback box.
CrossCLWindowSampler   query set (36 windows, ids ``0..35``) and key set
                       (same rows; id ``-1`` where the window is not fully
                       inside the key view).
DUPRGridSampler        two sets with the ``S x S`` cells of the two views'
                       overlap (or random boxes in it), ids ``0..S²-1``,
                       identical source boxes.
ALFMRegionSampler      two sets with ``num_regions`` regions inside the
                       overlap (proposals, topped up with random boxes),
                       ids ``0..N-1``; ``info['local_boxes']`` = the source
                       boxes of the local patch views.
=====================  ===================================================
"""
from abc import abstractmethod
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmalfm.registry import TASK_UTILS
from mmalfm.structures import (ViewGeometry, boxes_overlap, clip_to_crop,
                               crop_intersection, grid_in_box, inside_view,
                               intersect_boxes, overlap_fraction,
                               sliding_windows, view_to_src)
from .regions import BaseRegionSampler, Regions, RegionSet

__all__ = [
    'SoCoRegionSampler', 'CrossCLWindowSampler', 'DUPRGridSampler',
    'ALFMRegionSampler'
]

#: Id of SoCo's whole-view fallback box (negative: never matches anything).
FALLBACK_ID = -1
#: Id of CrossCL key windows that are not fully inside the key view.
INVALID_ID = -1


# ------------------------------------------------------------------ helpers
def _as_boxes(boxes: Optional[np.ndarray]) -> Tensor:
    """``[P, 4]`` float64 CPU tensor from an array (None -> no boxes)."""
    if boxes is None:
        return torch.zeros((0, 4), dtype=torch.float64)
    return torch.as_tensor(
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4))


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


# --------------------------------------------------------------------- SoCo
@TASK_UTILS.register_module()
class SoCoRegionSampler(BaseRegionSampler):
    """SoCo's proposal sampling, jitter, clipping and padding.

    For every directed view pair ``(a, b)`` (``a`` = V1, the whole image in
    SoCo):

    1. *Candidates*: proposals whose overlap with ``crop_a ∩ crop_b`` has
       positive area after shrinking that overlap by ``margin`` source pixels
       (``margin=1`` is the released inclusive-corner test
       ``ix1 < bx2 and bx1 < ix2``, as ``intersects_view(..., margin=1)``).
    2. *Redraw*: with ``n`` candidates the subset has ``min(n, select_k)``
       boxes. The minimum count ``m`` starts at ``max(padding_k // 2, 1)``
       and halves (floor, at least 1) after each failed draw, i.e. ``m =
       max(m0 >> attempt, 1)``. If the subset of *any* pair is smaller than
       ``m`` the sampler returns None (new crops), unless ``last_attempt``:
       then it goes on with what it has (max_tries is the transform's
       ``max_tries``; the released value is 5).
    3. *Subset*: a random subset of ``select_k`` candidates without
       replacement (all of them if fewer), drawn independently per pair.
    4. *Jitter* (a-side copy only, when ``a in jitter_views``): each box with
       probability ``jitter_prob``; ``δ ~ U(-r, r)⁴`` on the inclusive sizes
       ``w = x2 - x1`` (continuous corners): ``x1' = x1 + δ₁w``, ``y1' = y1
       + δ₂h``, ``x2' = x1' + w(1 + δ₃)``, ``y2' = y1' + h(1 + δ₄)`` (the
       released formula with inclusive ``x2 = x1 + w - 1``). Drawn
       independently for every pair.
    5. *Clip*: a-side boxes to ``crop_a``, b-side boxes to ``crop_b``; a box
       is dropped when it fails the ``margin`` test against its crop. A
       proposal dropped on either side is dropped on both, so every
       non-negative id of a set is in its partner set (the released code
       kept such rows unmatched; with a whole-image V1 this cannot happen
       for proposals wider than a few pixels). If nothing survives, each
       side becomes one whole-crop box with id ``-1`` (never matches;
       ``faithful_fallback_id=True`` gives the released id ``1``, which can
       spuriously match proposal 1 -- a flaw of the released code).
    6. *Pad* every side to ``padding_k`` rows by duplicating rows of that
       side drawn with replacement, independently per side (released
       ``pad_bboxs_with_common``; all surviving ids are common).

    Ids are proposal index + 1 (released ``append_prop_id``). An image with
    no proposals gets the single proposal "whole image" (released
    behaviour). Levels are not assigned here: the model maps each set into
    its view (``src_to_view``) and calls ``soco_level(..., geom=...)``.

    Sets are ordered pair by pair: ``sets[2p]`` is the a-side of
    ``pairs[p]``, ``sets[2p + 1]`` its b-side, and ``Regions.pairs[p] =
    (2p, 2p + 1)``. ``info``: ``fallback`` (the whole-view boxes were
    used) and ``num_selected`` (subset size per pair); the transform adds
    ``attempts``.

    Variants: SoCo (FPN) ``pairs=((0, 1), (0, 2))``; C4 ``pairs=((0, 1),),
    jitter_prob=0``; SoCo* ``pairs=((0, 1), (0, 2), (0, 3)),
    share_subset={3: 1}`` where view 3 is V2 resized to 112 (same crop):
    pair ``(0, 3)`` is not sampled but copies pair ``(0, 1)`` -- the same
    a-side set (same subset, jitter and padding: released "copy of
    boxes1_12") and the b-side set of view 1 re-labelled as view 3 and
    clipped to view 3's crop (a no-op for equal crops; an id whose box that
    clip empties becomes ``-1`` in both sets).

    Args:
        pairs (Sequence[tuple[int, int]]): directed ``(a, b)`` view pairs.
        select_k (int): proposals per pair (released 4).
        padding_k (int): rows per set (released 4), ``>= select_k``.
        jitter_prob (float): per-box jitter probability (a-side).
        jitter_ratio (float): jitter half-range ``r``.
        jitter_views (Sequence[int]): views whose a-side copy is jittered.
        share_subset (dict[int, int], optional): ``{b: b_src}``: every pair
            ``(a, b)`` copies pair ``(a, b_src)`` (which must be listed).
        faithful_fallback_id (bool): fallback id ``1`` instead of ``-1``.
        margin (float): validity margin in source pixels (1 = released).
    """

    needs_proposals = True

    def __init__(self,
                 pairs: Sequence[Tuple[int, int]] = ((0, 1), (0, 2)),
                 select_k: int = 4,
                 padding_k: int = 4,
                 jitter_prob: float = 0.5,
                 jitter_ratio: float = 0.1,
                 jitter_views: Sequence[int] = (0, ),
                 share_subset: Optional[Dict[int, int]] = None,
                 faithful_fallback_id: bool = False,
                 margin: float = 1.0) -> None:
        self.pairs = [tuple(int(v) for v in p) for p in pairs]
        if not self.pairs or any(len(p) != 2 or p[0] == p[1] or min(p) < 0
                                 for p in self.pairs):
            raise ValueError(f'pairs must be non-empty (a, b) view pairs with '
                             f'a != b, got {pairs}')
        if not 1 <= select_k <= padding_k:
            raise ValueError(f'need 1 <= select_k <= padding_k, got '
                             f'select_k={select_k}, padding_k={padding_k}')
        if not 0 <= jitter_prob <= 1 or not 0 <= jitter_ratio < 1:
            raise ValueError(f'need jitter_prob in [0, 1] and jitter_ratio in '
                             f'[0, 1), got {jitter_prob}, {jitter_ratio}')
        self.select_k, self.padding_k = int(select_k), int(padding_k)
        self.jitter_prob, self.jitter_ratio = jitter_prob, jitter_ratio
        self.jitter_views = tuple(jitter_views)
        self.share_subset = {int(k): int(v)
                             for k, v in (share_subset or {}).items()}
        self.fallback_id = 1 if faithful_fallback_id else FALLBACK_ID
        self.margin = margin
        # index of the pair each shared pair copies
        self._source: Dict[int, int] = {}
        for i, (a, b) in enumerate(self.pairs):
            if b not in self.share_subset:
                continue
            src = (a, self.share_subset[b])
            if src not in self.pairs or src[1] in self.share_subset:
                raise ValueError(f'share_subset maps view {b} to '
                                 f'{src[1]}, so pair {src} must be listed '
                                 f'(and not shared itself); pairs='
                                 f'{self.pairs}')
            self._source[i] = self.pairs.index(src)
        self.views = sorted({v for p in self.pairs for v in p})

    def min_common(self, attempt: int) -> int:
        """Minimum subset size ``m`` accepted at ``attempt`` (0-based)."""
        return max(max(self.padding_k // 2, 1) >> attempt, 1)

    def sample(self, geometry: ViewGeometry, img_shape: Tuple[int, int],
               rng: np.random.Generator, proposals: Optional[np.ndarray],
               attempt: int, last_attempt: bool) -> Optional[Regions]:
        _check_views(geometry, self.views, type(self).__name__)
        props = _as_boxes(proposals)
        if len(props) == 0:  # released: one proposal, the whole image
            h, w = img_shape
            props = torch.tensor([[0., 0., w, h]], dtype=torch.float64)
        ids = torch.arange(1, len(props) + 1)

        # candidates of every sampled pair, then the redraw test
        sampled = [i for i in range(len(self.pairs)) if i not in self._source]
        cands = {}
        for i in sampled:
            a, b = self.pairs[i]
            region, ok = crop_intersection(geometry[a], geometry[b])
            valid = boxes_overlap(props, region, self.margin) & ok
            cands[i] = torch.nonzero(valid).flatten()
        m = self.min_common(attempt)
        num = {i: min(len(c), self.select_k) for i, c in cands.items()}
        if not last_attempt and min(num.values()) < m:
            return None

        out: Dict[int, Tuple[RegionSet, RegionSet]] = {}
        fallback = False
        for i in sampled:
            a, b = self.pairs[i]
            c = cands[i]
            sel = c[torch.as_tensor(
                rng.choice(len(c), num[i], replace=False), dtype=torch.long)]
            subset, sub_ids = props[sel], ids[sel]
            jittered = subset
            if a in self.jitter_views and self.jitter_prob > 0:
                jittered = self._jitter(subset, rng)
            box_a, ok_a = clip_to_crop(jittered, geometry[a], self.margin)
            box_b, ok_b = clip_to_crop(subset, geometry[b], self.margin)
            keep = ok_a & ok_b
            if keep.any():
                ids_a = ids_b = sub_ids[keep]
                box_a, box_b = box_a[keep], box_b[keep]
            else:  # whole-view fallback on both sides
                fallback = True
                ids_a = ids_b = torch.tensor([self.fallback_id])
                box_a = geometry[a].crop.to(torch.float64).reshape(1, 4)
                box_b = geometry[b].crop.to(torch.float64).reshape(1, 4)
            ids_a, box_a = self._pad(ids_a, box_a, rng)
            ids_b, box_b = self._pad(ids_b, box_b, rng)
            out[i] = (RegionSet(a, ids_a.numpy(), _np(box_a)),
                      RegionSet(b, ids_b.numpy(), _np(box_b)))
        for i, j in self._source.items():
            set_a, set_b = out[j]
            b = self.pairs[i][1]
            box, ok = clip_to_crop(_as_boxes(set_b.boxes), geometry[b])
            lost = set_b.ids[~ok.numpy()]  # ids view b cannot see
            ids_a = np.where(np.isin(set_a.ids, lost), FALLBACK_ID, set_a.ids)
            ids_b = np.where(np.isin(set_b.ids, lost), FALLBACK_ID, set_b.ids)
            out[i] = (RegionSet(set_a.view, ids_a, set_a.boxes.copy()),
                      RegionSet(b, ids_b, _np(box)))

        sets = [s for i in range(len(self.pairs)) for s in out[i]]
        return Regions(
            sets=sets,
            pairs=[(2 * i, 2 * i + 1) for i in range(len(self.pairs))],
            info=dict(
                fallback=fallback,
                num_selected=[
                    num[self._source.get(i, i)] for i in range(len(self.pairs))
                ]))

    def _jitter(self, boxes: Tensor, rng: np.random.Generator) -> Tensor:
        """SoCo's ``jitter_props`` on continuous corners (see class doc)."""
        n = len(boxes)
        apply = torch.as_tensor(rng.random(n) < self.jitter_prob)
        delta = torch.as_tensor(
            rng.uniform(-self.jitter_ratio, self.jitter_ratio, (n, 4)),
            dtype=boxes.dtype)
        wh = boxes[:, 2:] - boxes[:, :2]
        xy1 = boxes[:, :2] + delta[:, :2] * wh
        out = torch.cat([xy1, xy1 + wh * (1 + delta[:, 2:])], dim=-1)
        return torch.where(apply[:, None], out, boxes)

    def _pad(self, ids: Tensor, boxes: Tensor,
             rng: np.random.Generator) -> Tuple[Tensor, Tensor]:
        """Pad to ``padding_k`` rows with duplicates of random rows."""
        pad = self.padding_k - len(ids)
        if pad <= 0:
            return ids, boxes
        extra = torch.as_tensor(rng.integers(0, len(ids), pad))
        return torch.cat([ids, ids[extra]]), torch.cat([boxes, boxes[extra]])


# ------------------------------------------------------------------ CrossCL
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
    the id marks them. ``pairs = [(0, 1)]``; ``info['num_valid']``. Never
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
        self.windows = sliding_windows(size, window, stride,
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
        return Regions(
            sets=[RegionSet(self.query, ids.numpy(), boxes),
                  RegionSet(self.key, key_ids.numpy(), boxes.copy())],
            pairs=[(0, 1)],
            info=dict(num_valid=int(valid.sum())))


# ------------------------------------------------- regions in an overlap
class _OverlapRegionSampler(BaseRegionSampler):
    """Shared by DUPR and ALFM: two views, regions inside their overlap.

    ``O = crop_intersection(g_a, g_b)``. While ``O`` is empty or
    ``overlap_fraction(g_a, g_b, 'min') < min_overlap`` the sampler asks for
    new crops (None); on the last attempt it returns two empty sets with
    ``info['no_overlap'] = True`` (plus :meth:`_empty_info`). Otherwise
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
                           dict(no_overlap=True, overlap=frac,
                                **self._empty_info()))
        boxes, info = self._boxes_in(region.to(torch.float64), proposals, rng)
        ids = np.arange(len(boxes), dtype=np.int64)
        boxes = _np(boxes)
        return Regions([RegionSet(a, ids, boxes),
                        RegionSet(b, ids.copy(), boxes.copy())], [(0, 1)],
                       dict(no_overlap=False, overlap=frac, **info))

    @abstractmethod
    def _boxes_in(self, region: Tensor, proposals: Optional[np.ndarray],
                  rng: np.random.Generator) -> Tuple[Tensor, dict]:
        """``[N, 4]`` float64 source boxes inside ``region`` and extra info."""

    def _empty_info(self) -> dict:
        """Extra ``info`` entries of an image without overlap."""
        return {}


# --------------------------------------------------------------------- DUPR
@TASK_UTILS.register_module()
class DUPRGridSampler(_OverlapRegionSampler):
    """DUPR's patch identities: a grid over the two views' overlap.

    ``O = crop_intersection(g_a, g_b)``. While ``overlap_fraction(g_a, g_b,
    'min') < min_overlap`` (or ``O`` is empty) the sampler returns None
    (redraw); on the last attempt it returns two empty sets and
    ``info['no_overlap'] = True`` (the image contributes only the global
    loss). Otherwise both sets hold the same source boxes: ``mode='grid'``
    the ``grid x grid`` cells of ``O`` (``grid_in_box``, row-major, cell
    ``k`` has id ``k``); ``mode='random'`` ``num_random`` boxes inside ``O``
    with width and height fractions ``U(random_side)`` of ``O``'s (ids
    ``0..N-1``). Cells lie inside both views by construction. ``pairs =
    [(0, 1)]`` (the loss symmetrises); ``info``: ``no_overlap``,
    ``overlap`` (the fraction).

    Args:
        views (tuple[int, int]): the two views.
        grid (int | tuple[int, int]): ``S`` or ``(rows, cols)``.
        min_overlap (float): minimum overlap fraction (of the smaller crop).
        mode (str): ``'grid'`` or ``'random'``.
        num_random (int): boxes in ``'random'`` mode.
        random_side (tuple[float, float]): side fractions in ``'random'``.
    """

    def __init__(self,
                 views: Tuple[int, int] = (0, 1),
                 grid=4,
                 min_overlap: float = 0.1,
                 mode: str = 'grid',
                 num_random: int = 16,
                 random_side: Tuple[float, float] = (0.25, 0.5)) -> None:
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


# --------------------------------------------------------------------- ALFM
@TASK_UTILS.register_module()
class ALFMRegionSampler(_OverlapRegionSampler):
    """ALFM's regions inside the two global views' overlap.

    ``O = crop_intersection(g_a, g_b)`` must be non-empty with
    ``overlap_fraction(..., 'min') >= min_overlap``, else None (redraw) or,
    on the last attempt, empty sets and ``info['no_overlap'] = True``.

    ``source='proposals'``: candidates are the proposals that overlap ``O``
    (positive area after shrinking ``O`` by ``margin`` px, the SoCo test),
    clipped to ``O``, whose clipped width and height are at least
    ``min_size_frac`` of ``O``'s; ``num_regions`` of them are drawn without
    replacement. Missing regions (fewer candidates) are random boxes inside
    ``O`` with side fractions ``U(random_side)`` (``info['fallback'] =
    True``, ``info['num_random']`` of them). ``source='random'`` ignores
    the proposals (``needs_proposals`` is False) and draws all regions at
    random.

    Both sets (views ``a`` and ``b``) hold the same ``num_regions`` source
    boxes with ids ``0..N-1`` (slot index; ``info['proposal_ids']`` gives
    the proposal index + 1, or ``-1`` for random boxes), ``pairs = [(0,
    1)]``. The local patch views are tight crops of the regions: the
    transform builds them (``kind='region_crop'``) from
    ``info['local_boxes']`` (``[N, 4]`` float32 source boxes, row ``r`` =
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

    def _empty_info(self) -> dict:
        return dict(fallback=False, num_random=0,
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
            valid = boxes_overlap(props, region, self.margin) & (
                size >= min_size).all(-1)
            cand = torch.nonzero(valid).flatten()
            # Selective search repeats regions and clipping to O merges
            # others; identical boxes would give identical local views
            # under different ids, so keep the first of each.
            _, first = np.unique(
                clipped[cand].numpy(), axis=0, return_index=True)
            cand = cand[torch.as_tensor(np.sort(first), dtype=torch.long)]
            n = min(len(cand), self.num_regions)
            sel = cand[torch.as_tensor(
                rng.choice(len(cand), n, replace=False), dtype=torch.long)]
            chosen, chosen_ids = clipped[sel], sel + 1
        num_random = self.num_regions - len(chosen)
        boxes = torch.cat([
            chosen,
            random_boxes_in(region, num_random, self.random_side, rng)
        ])
        prop_ids = torch.cat(
            [chosen_ids, torch.full((num_random, ), -1)]).numpy()
        return boxes, dict(
            fallback=self.source == 'proposals' and num_random > 0,
            num_random=num_random,
            proposal_ids=prop_ids,
            local_boxes=_np(boxes))
