# Copyright (c) mmalfm contributors. All rights reserved.
"""Precise RoI pooling helpers (CrossCL).

PrRoIPool (Jiang et al., 2018) averages the **bilinearly interpolated**
feature map exactly over a bin: with the map seen as the continuous function
``f(x, y) = sum_ij F[i, j] hat(x - j) hat(y - i)`` (``hat(t) = max(0, 1 -
|t|)``, cell ``(i, j)`` centred at integer coordinates, zero outside the
map), the output of a bin ``[x0, x1] x [y0, y1]`` (feature coordinates =
image coordinates x ``spatial_scale``) is ``∫∫ f / area`` (0 for an empty
bin). mmcv's ``PrRoIPool`` implements it on CUDA only (fp32 only). For 1x1
output the integral is separable, ``out[c] = wy^T F[c] wx / area`` with
``wx[j] = ∫_{x0}^{x1} hat(x - j) dx`` in closed form, which is what the
torch path below computes (CPU, or any device; same semantics as mmcv's
kernel, autograd gives the gradient w.r.t. the features and the boxes).
"""
from typing import Optional

import torch
from torch import Tensor

__all__ = ['prroi_pool_1x1', 'hat_integral']


def _hat_cdf(t: Tensor) -> Tensor:
    """``∫_{-inf}^{t} hat(s) ds`` for ``hat(s) = max(0, 1 - |s|)``."""
    t = t.clamp(-1., 1.)
    neg = 0.5 * (t + 1)**2
    pos = 1 - 0.5 * (1 - t)**2
    return torch.where(t < 0, neg, pos)


def hat_integral(lo: Tensor, hi: Tensor, size: int) -> Tensor:
    """``∫_{lo}^{hi} hat(x - j) dx`` for ``j = 0 .. size - 1``.

    Args:
        lo (Tensor): ``[R]`` lower bounds (feature coordinates).
        hi (Tensor): ``[R]`` upper bounds (``hi >= lo`` assumed; the caller
            clamps empty intervals).
        size (int): Number of cells along the axis.

    Returns:
        Tensor: ``[R, size]`` weights (sum ``hi - lo`` for an interval
        inside ``[0, size - 1]``).
    """
    j = torch.arange(size, device=lo.device, dtype=lo.dtype)
    return _hat_cdf(hi[:, None] - j) - _hat_cdf(lo[:, None] - j)


def _torch_prroi_1x1(feat: Tensor, boxes: Tensor,
                     spatial_scale: float) -> Tensor:
    """Exact 1x1 PrRoIPool, ``feat [N, C, H, W]``, ``boxes [N, M, 4]`` ->
    ``[N, M, C]`` (fp32)."""
    n, c, h, w = feat.shape
    b = boxes.float() * spatial_scale
    x0, y0, x1, y1 = b.reshape(-1, 4).unbind(-1)
    x1 = torch.maximum(x1, x0)  # mmcv: width = max(x2 - x1, 0)
    y1 = torch.maximum(y1, y0)
    wx = hat_integral(x0, x1, w).view(n, -1, w)  # [N, M, W]
    wy = hat_integral(y0, y1, h).view(n, -1, h)  # [N, M, H]
    area = ((x1 - x0) * (y1 - y0)).view(n, -1)  # [N, M]
    # [N, C, H, W] x [N, M, W] -> [N, C, H, M]; then x [N, M, H] -> [N, M, C]
    tmp = torch.einsum('nchw,nmw->nchm', feat, wx)
    out = torch.einsum('nchm,nmh->nmc', tmp, wy)
    safe = torch.where(area > 0, area, torch.ones_like(area))
    return torch.where((area > 0)[..., None], out / safe[..., None],
                       torch.zeros_like(out))


def _mmcv_prroi_1x1(feat: Tensor, boxes: Tensor,
                    spatial_scale: float) -> Tensor:
    """mmcv's CUDA ``PrRoIPool(1, spatial_scale)`` -> ``[N, M, C]``."""
    from mmcv.ops import prroi_pool
    n, m = boxes.shape[:2]
    idx = torch.arange(n, device=boxes.device, dtype=torch.float32)
    rois = torch.cat([idx.repeat_interleave(m)[:, None],
                      boxes.reshape(-1, 4).float()], dim=1)
    out = prroi_pool(feat.contiguous(), rois, (1, 1), float(spatial_scale))
    return out.view(n, m, -1)


def prroi_pool_1x1(feat: Tensor,
                   boxes: Tensor,
                   spatial_scale: float,
                   impl: Optional[str] = None) -> Tensor:
    """Precise RoI pooling to 1x1 of per-image boxes, always in fp32.

    Under AMP the features are cast to fp32 and autocast is disabled (mmcv's
    op rejects half tensors, and the integral is a long weighted sum).

    Args:
        feat (Tensor): ``[N, C, H, W]`` feature map (any float dtype).
        boxes (Tensor): ``[N, M, 4]`` boxes ``(x1, y1, x2, y2)`` in image
            pixels (``M`` boxes per image).
        spatial_scale (float): Image -> feature coordinates (P4: 1/16,
            P3: 1/8).
        impl (str, optional): ``'mmcv'`` (CUDA op), ``'torch'`` (closed
            form above, any device) or None: mmcv on CUDA tensors, torch
            otherwise (mmcv 2.x has no CPU kernel for PrRoIPool).

    Returns:
        Tensor: ``[N * M, C]`` fp32 (image-major rows).
    """
    if feat.dim() != 4 or boxes.dim() != 3 or boxes.shape[-1] != 4 or \
            boxes.shape[0] != feat.shape[0]:
        raise ValueError(f'prroi_pool_1x1 needs feat [N, C, H, W] and boxes '
                         f'[N, M, 4], got {tuple(feat.shape)} and '
                         f'{tuple(boxes.shape)}')
    if impl is None:
        impl = 'mmcv' if feat.is_cuda else 'torch'
    if impl not in ('mmcv', 'torch'):
        raise ValueError(f"impl must be 'mmcv', 'torch' or None, got "
                         f'{impl!r}')
    with torch.autocast(device_type=feat.device.type, enabled=False):
        feat = feat.float()
        boxes = boxes.to(device=feat.device, dtype=torch.float32)
        fn = _mmcv_prroi_1x1 if impl == 'mmcv' else _torch_prroi_1x1
        out = fn(feat, boxes, spatial_scale)
    return out.reshape(-1, feat.shape[1])
