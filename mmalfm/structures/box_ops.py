# Copyright (c) mmalfm contributors. All rights reserved.
"""Batched operations on axis-aligned boxes (pure torch).

Convention (shared by the whole package, see
``docs/advanced_guides/geometry.md``):
boxes are ``(x1, y1, x2, y2)`` **continuous pixel corners**: pixel ``i`` spans
``[i, i + 1)``, so a box covering pixels ``0..9`` is ``(0, 10)`` and its width
is ``x2 - x1``. Every function here is agnostic of which image the pixels
belong to (source image or view); leading batch dimensions broadcast and the
input dtype/device are preserved.
"""
import math
from typing import Sequence, Tuple, Union

import torch
from torch import Tensor

Size2 = Union[int, float, Sequence[Union[int, float]]]

__all__ = [
    'box_area', 'hflip_boxes', 'intersect_boxes', 'boxes_overlap',
    'pairwise_overlap', 'grid_in_box', 'sliding_windows'
]


def _pair(value: Size2) -> Tuple[float, float]:
    """Return ``(a, b)`` from a scalar or a two-element sequence."""
    if isinstance(value, (int, float)):
        return value, value
    a, b = value
    return a, b


def box_area(boxes: Tensor) -> Tensor:
    """Area of boxes; degenerate boxes (``x2 <= x1``) have area 0.

    Args:
        boxes (Tensor): ``[..., 4]`` boxes ``(x1, y1, x2, y2)``.

    Returns:
        Tensor: ``[...]`` areas, same dtype as ``boxes``.
    """
    wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def hflip_boxes(boxes: Tensor, width: Union[Tensor, float]) -> Tensor:
    """Mirror boxes horizontally in an image of the given width.

    ``x -> width - x`` on continuous corners, so ``x1`` and ``x2`` swap roles
    and ``x1 <= x2`` is preserved. Applying it twice is the identity.

    Args:
        boxes (Tensor): ``[..., 4]`` boxes.
        width (Tensor | float): image width, a number or a tensor that
            broadcasts against ``boxes[..., 0]``.

    Returns:
        Tensor: ``[..., 4]`` mirrored boxes.
    """
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([width - x2, y1, width - x1, y2], dim=-1)


def intersect_boxes(boxes_a: Tensor,
                    boxes_b: Tensor) -> Tuple[Tensor, Tensor]:
    """Element-wise intersection of two sets of boxes.

    Args:
        boxes_a (Tensor): ``[..., 4]`` boxes.
        boxes_b (Tensor): ``[..., 4]`` boxes broadcastable with ``boxes_a``.

    Returns:
        tuple[Tensor, Tensor]: ``inter`` ``[..., 4]`` and ``nonempty``
        ``[...]`` (bool). ``nonempty`` is a *strict* positive-area test, so
        boxes that only touch along an edge or a corner are empty. Empty
        intersections are returned as zero-size boxes (``x2 = max(x2, x1)``,
        same for y) so that they never carry negative widths.
    """
    lt = torch.maximum(boxes_a[..., :2], boxes_b[..., :2])
    rb = torch.minimum(boxes_a[..., 2:], boxes_b[..., 2:])
    nonempty = (rb > lt).all(dim=-1)
    return torch.cat([lt, torch.maximum(rb, lt)], dim=-1), nonempty


def boxes_overlap(boxes: Tensor, region: Tensor,
                  margin: float = 0.0) -> Tensor:
    """Whether boxes overlap a region shrunk by ``margin`` with positive area.

    ``margin = 0`` is the plain strict positive-area intersection test.
    ``margin = 1`` reproduces the strict *inclusive*-corner test of the
    released SoCo code (``ix1 < bx2 and bx1 < ix2`` on inclusive corners,
    i.e. the overlap must be wider than one pixel on both axes).

    Args:
        boxes (Tensor): ``[..., 4]`` boxes.
        region (Tensor): ``[..., 4]`` regions broadcastable with ``boxes``.
        margin (float): pixels removed from every side of ``region``.

    Returns:
        Tensor: ``[...]`` bool mask.
    """
    shrunk = torch.cat([region[..., :2] + margin, region[..., 2:] - margin],
                       dim=-1)
    return intersect_boxes(boxes, shrunk)[1]


def pairwise_overlap(boxes_a: Tensor,
                     boxes_b: Tensor,
                     mode: str = 'iou',
                     eps: float = 1e-6) -> Tensor:
    """Pairwise IoU / IoA between two batched box sets.

    Thin wrapper over :func:`mmdet.structures.bbox.bbox_overlaps` (which
    already supports leading batch dims, fp16 on CPU and empty inputs):
    reuse beats rewrite. Batch dims broadcast.

    Args:
        boxes_a (Tensor): ``[..., A, 4]`` boxes.
        boxes_b (Tensor): ``[..., B, 4]`` boxes.
        mode (str): ``'iou'`` (intersection over union) or ``'ioa'``
            (intersection over the area of ``boxes_a``; mmdet's ``'iof'``).
        eps (float): added to the denominator for degenerate boxes.

    Returns:
        Tensor: ``[..., A, B]`` overlaps in ``[0, 1]``.
    """
    from mmdet.structures.bbox import bbox_overlaps  # lazy: heavy import
    modes = {'iou': 'iou', 'ioa': 'iof'}
    if mode not in modes:
        raise ValueError(f'mode must be one of {list(modes)}, got {mode!r}')
    batch = torch.broadcast_shapes(boxes_a.shape[:-2], boxes_b.shape[:-2])
    boxes_a = boxes_a.expand(*batch, *boxes_a.shape[-2:])
    boxes_b = boxes_b.to(boxes_a.dtype).expand(*batch, *boxes_b.shape[-2:])
    return bbox_overlaps(boxes_a, boxes_b, mode=modes[mode], eps=eps)


def grid_in_box(boxes: Tensor, size: Union[int, Tuple[int, int]]) -> Tensor:
    """Split each box into a regular grid of cells (row-major ids).

    Cell ``k = r * cols + c`` covers columns ``c/cols .. (c+1)/cols`` and rows
    ``r/rows .. (r+1)/rows`` of the box. Outer cell edges coincide exactly
    with the box edges.

    Args:
        boxes (Tensor): ``[..., 4]`` boxes.
        size (int | tuple[int, int]): ``S`` for an ``S x S`` grid or
            ``(rows, cols)``.

    Returns:
        Tensor: ``[..., rows * cols, 4]`` cells.
    """
    rows, cols = _pair(size)
    tx = torch.arange(cols + 1, dtype=boxes.dtype, device=boxes.device) / cols
    ty = torch.arange(rows + 1, dtype=boxes.dtype, device=boxes.device) / rows
    x1, y1, x2, y2 = (v.unsqueeze(-1) for v in boxes.unbind(-1))
    xe = x1 * (1 - tx) + x2 * tx  # [..., cols + 1], exact at both ends
    ye = y1 * (1 - ty) + y2 * ty  # [..., rows + 1]
    shape = (*boxes.shape[:-1], rows, cols)
    cells = torch.stack([
        xe[..., None, :-1].expand(shape), ye[..., :-1, None].expand(shape),
        xe[..., None, 1:].expand(shape), ye[..., 1:, None].expand(shape)
    ], dim=-1)
    return cells.flatten(-3, -2)


def sliding_windows(view_size: Size2,
                    win: Size2,
                    stride: Size2,
                    dtype: torch.dtype = torch.float32,
                    device: Union[str, torch.device, None] = None) -> Tensor:
    """Regular grid of windows fully inside a view (row-major ids).

    Window ``k = i * nx + j`` has top-left ``(j * stride_x, i * stride_y)``;
    per axis there are ``floor((size - win) / stride) + 1`` windows, i.e.
    every window that ends at or before the view border. With
    ``(224, 48, 32)`` this is CrossCL's 6 x 6 grid (last window ends at 208);
    CrossCL's multi-scale sizes (``48 * s / 224``, ``32 * s / 224``) give the
    same 6 x 6 grid.

    Args:
        view_size (int | tuple): ``S`` or ``(W, H)`` view pixels.
        win (float | tuple): window size ``w`` or ``(w, h)``.
        stride (float | tuple): stride ``s`` or ``(s_x, s_y)``.
        dtype (torch.dtype): output dtype.
        device (str | torch.device, optional): output device.

    Returns:
        Tensor: ``[K, 4]`` windows in view pixels, ``K = nx * ny``.
    """
    (vw, vh), (ww, wh), (sx, sy) = _pair(view_size), _pair(win), _pair(stride)
    nx = math.floor((vw - ww) / sx + 1e-9) + 1
    ny = math.floor((vh - wh) / sy + 1e-9) + 1
    x0 = torch.arange(max(nx, 0), dtype=dtype, device=device) * sx
    y0 = torch.arange(max(ny, 0), dtype=dtype, device=device) * sy
    yy, xx = torch.meshgrid(y0, x0, indexing='ij')
    xx, yy = xx.reshape(-1), yy.reshape(-1)
    return torch.stack([xx, yy, xx + ww, yy + wh], dim=-1)
