# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo's region sampler (Wei et al., NeurIPS 2021)."""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmalfm.registry import TASK_UTILS
from mmalfm.structures import (ViewGeometry, boxes_overlap, clip_to_crop,
                               crop_intersection)
from ..regions import BaseRegionSampler, Regions, RegionSet
from ._helpers import _as_boxes, _check_views, _np

__all__ = ['SoCoRegionSampler']

#: Id of SoCo's whole-view fallback box (negative: never matches anything).
FALLBACK_ID = -1


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
    (2p, 2p + 1)``. Facts: ``fallback`` (the whole-view boxes were
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
        if not self.pairs or any(
                len(p) != 2 or p[0] == p[1] or min(p) < 0 for p in self.pairs):
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
        self.share_subset = {
            int(k): int(v)
            for k, v in (share_subset or {}).items()
        }
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
            sel = c[torch.as_tensor(rng.choice(len(c), num[i], replace=False),
                                    dtype=torch.long)]
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
        return Regions(sets=sets,
                       pairs=[(2 * i, 2 * i + 1)
                              for i in range(len(self.pairs))],
                       fallback=fallback,
                       num_selected=[
                           num[self._source.get(i, i)]
                           for i in range(len(self.pairs))
                       ])

    def _jitter(self, boxes: Tensor, rng: np.random.Generator) -> Tensor:
        """SoCo's ``jitter_props`` on continuous corners (see class doc)."""
        n = len(boxes)
        apply = torch.as_tensor(rng.random(n) < self.jitter_prob)
        delta = torch.as_tensor(rng.uniform(-self.jitter_ratio,
                                            self.jitter_ratio, (n, 4)),
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
