# Copyright (c) mmalfm contributors. All rights reserved.
"""Conversions from our continuous view boxes to SoCo's released conventions.

The released SoCo code (``contrast/data/bboxs_utils.py``) works with
**inclusive** integer corners: a proposal stored as ``(x, y, w, h)`` becomes
``(x, y, x + w - 1, y + h - 1)``, i.e. inclusive ``x2 = continuous x2 - 1``,
*one source pixel*. After clipping to the crop and subtracting the crop's
origin, boxes are

* normalised by the crop width/height: ``x_n = x_incl_crop / crop_w`` --
  equivalently ``(x2_view - s_x) / out_w`` for x2 where ``s_x = out_w /
  crop_w`` is one source pixel expressed in view pixels -- and *then*
  mirrored ``(1 - x2_n, 1 - x1_n)`` for a flipped view;
* resized for level assignment, *unflipped*: ``x_incl_crop / crop_w *
  out_w`` truncated to int, sizes ``w = x2 - x1 + 1`` and level = first
  ``j`` with ``sqrt(w * h) <= aware_range[j]``.

Passing the view's :class:`ViewGeometry` reproduces that exactly. Passing
only ``out_size`` treats the box as an unflipped view box and subtracts one
*view* pixel (the natural choice for boxes defined in the view itself).
"""
from typing import Sequence, Tuple, Union

import torch
from torch import Tensor

from .box_ops import hflip_boxes
from .view_geometry import ViewGeometry

GeomOrSize = Union[ViewGeometry, Tensor, int, Sequence[int]]

__all__ = ['soco_inclusive_boxes', 'to_soco_normalized', 'soco_level']


def _soco_params(boxes: Tensor,
                 geom: GeomOrSize) -> Tuple[Tensor, Tensor, Tensor]:
    """``out (W, H)``, ``flip`` and inclusive ``step`` ready to broadcast."""
    if isinstance(geom, ViewGeometry):
        out = geom.out_size.to(boxes)
        flip = geom.flip.to(boxes.device)[..., None, None]
        step = geom.scale.to(boxes)
    else:
        if isinstance(geom, int):
            geom = (geom, geom)
        out = torch.as_tensor(geom, dtype=boxes.dtype, device=boxes.device)
        flip = torch.zeros((), dtype=torch.bool, device=boxes.device)
        step = torch.ones_like(out)
    return out[..., None, :], flip, step[..., None, :]


def _unflipped_inclusive(boxes: Tensor, out: Tensor, flip: Tensor,
                         step: Tensor) -> Tensor:
    """Undo the view flip, then convert x2/y2 to inclusive corners."""
    boxes = torch.where(flip, hflip_boxes(boxes, out[..., 0]), boxes)
    return torch.cat([boxes[..., :2], boxes[..., 2:] - step], dim=-1)


def soco_inclusive_boxes(boxes_view: Tensor, geom: GeomOrSize) -> Tensor:
    """SoCo's resized inclusive boxes (``resize_bboxs`` before ``int``).

    Args:
        boxes_view (Tensor): ``G + [M, 4]`` continuous boxes in view pixels
            (as returned by :func:`src_to_view`, flip applied).
        geom (ViewGeometry | Tensor | int | sequence): the views (batch
            shape ``G``; exact released behaviour) or just their
            ``(out_w, out_h)`` (unflipped boxes, one view pixel).

    Returns:
        Tensor: ``G + [M, 4]`` *unflipped* inclusive boxes in view pixels.
    """
    return _unflipped_inclusive(boxes_view, *_soco_params(boxes_view, geom))


def to_soco_normalized(boxes_view: Tensor, geom: GeomOrSize) -> Tensor:
    """Boxes in SoCo's normalised inclusive ``[0, 1]`` convention.

    Args:
        boxes_view (Tensor): ``G + [M, 4]`` continuous boxes in view pixels
            (flip applied).
        geom (ViewGeometry | Tensor | int | sequence): see
            :func:`soco_inclusive_boxes`.

    Returns:
        Tensor: ``G + [M, 4]`` ``(x1, y1, x2, y2)``: x divided by the view
        width, y by its height, mirrored as ``(1 - x2, 1 - x1)`` for
        flipped views -- bit-compatible with the released data pipeline.
    """
    out, flip, step = _soco_params(boxes_view, geom)
    normed = _unflipped_inclusive(boxes_view, out, flip, step) / out[
        ..., [0, 1, 0, 1]]
    return torch.where(flip, hflip_boxes(normed, 1.0), normed)


def soco_level(boxes_view: Tensor,
               thresholds: Sequence[float] = (48, 96, 192, 224),
               geom: Union[ViewGeometry, None] = None,
               eps: float = 1e-3) -> Tensor:
    """Scale-aware FPN level of view boxes (SoCo ``aware_range``).

    ``w = int(x2_incl) - int(x1_incl) + 1`` (same for h) on the unflipped
    inclusive view boxes; level = first ``j`` with ``sqrt(w * h) <=
    thresholds[j]`` (evaluated exactly as ``w * h <= t_j ** 2``), ``-1``
    when the box exceeds the last threshold. ``eps`` (view pixels) is added
    before truncation so that float round-off of an integral coordinate
    (e.g. ``46.9999999``) does not drop a pixel; the released numpy code
    has no such guard.

    Args:
        boxes_view (Tensor): ``G + [M, 4]`` continuous boxes in view pixels.
        thresholds (Sequence[float]): increasing ``aware_range`` bounds
            (P2..P5 by default).
        geom (ViewGeometry, optional): the views (batch shape ``G``); if
            omitted the boxes are taken as unflipped and x2/y2 lose one view
            pixel (for an unflipped integral box ``w = x2 - x1``).
        eps (float): round-off guard in view pixels.

    Returns:
        Tensor: ``G + [M]`` int64 level index in ``0..len(thresholds)-1``
        or ``-1``.
    """
    if list(thresholds) != sorted(thresholds):
        raise ValueError(f'thresholds must increase, got {thresholds}')
    if geom is None:  # unflipped boxes, x2/y2 lose one view pixel
        incl = torch.cat([boxes_view[..., :2], boxes_view[..., 2:] - 1], -1)
    else:
        incl = soco_inclusive_boxes(boxes_view, geom)
    ints = torch.trunc(incl + eps).long()
    wh = ints[..., 2:] - ints[..., :2] + 1
    area = wh[..., 0] * wh[..., 1]
    thr2 = torch.tensor([t * t for t in thresholds],
                        dtype=torch.float64, device=boxes_view.device)
    level = (area[..., None].double() > thr2).sum(-1)
    valid = (wh > 0).all(-1) & (level < len(thresholds))
    return torch.where(valid, level, -1)
