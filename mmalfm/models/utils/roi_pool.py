# Copyright (c) mmalfm contributors. All rights reserved.
"""Multi-level RoIAlign for region-level pretraining.

Why not mmdet's ``SingleRoIExtractor`` as is: it maps every RoI to exactly
*one* level with its own rule (``finest_scale`` on the continuous
``sqrt(area)``). SoCo's faithful mode pools every box at *all* levels (BN
statistics of the head/projector/predictor see all ``P * L`` slots), and its
assigned mode uses SoCo's own level rule (thresholds 48/96/192/224 on
truncated inclusive view boxes, :func:`~mmalfm.models.utils.
assign_soco_levels`), so this module takes the levels from the caller.
"""
from typing import Optional, Sequence, Tuple

import torch
from mmcv.ops import RoIAlign
from torch import Tensor, nn

__all__ = ['MultiLevelRoIPool']


class MultiLevelRoIPool(nn.Module):
    """RoIAlign of per-image box sets on a feature pyramid.

    One ``mmcv.ops.RoIAlign`` call per level, every image batched through
    the ``[K, 5]`` ``(batch_idx, x1, y1, x2, y2)`` RoI format. Pooling runs
    in fp32 even under autocast (released SoCo casts RoIAlign inputs back to
    fp32 under apex O1); the output is cast back to the features' dtype.

    Box coordinates are view pixels; they are mapped to level ``l`` by
    ``1 / featmap_strides[l]`` or, when ``img_shape`` is passed to
    :meth:`forward`, by ``feat_size_l / img_size`` per axis -- the released
    SoCo mapping (``normalised box * feature W/H``), which differs from
    ``1 / stride`` when the map is rounded up (a 112 px view has a 4 x 4 P5,
    ``4 / 112 != 1 / 32``).

    With ``aligned=True`` a box edge ``x`` (continuous pixel corner) samples
    the level at ``x * scale - 0.5`` in pixel-centre coordinates, i.e. a map
    ``f[y, x] = x`` pools to ``centre_x * scale - 0.5`` (half-pixel
    correction of Detectron2 / torchvision).

    Args:
        output_size (int | tuple[int, int]): Pooled size ``S``. Defaults
            to 7.
        featmap_strides (Sequence[int]): Stride of each level (P2-P5 by
            default).
        sampling_ratio (int): Samples per bin side; ``0`` = adaptive
            (``ceil(roi_size / S)``, torchvision's ``-1``). Defaults to 0.
        aligned (bool): Half-pixel offset. Defaults to True.
    """

    def __init__(self,
                 output_size: int = 7,
                 featmap_strides: Sequence[int] = (4, 8, 16, 32),
                 sampling_ratio: int = 0,
                 aligned: bool = True) -> None:
        super().__init__()
        self.output_size = output_size
        self.featmap_strides = tuple(featmap_strides)
        self.num_levels = len(self.featmap_strides)
        # spatial_scale=1: boxes are scaled here, per axis if needed.
        self.roi_layers = nn.ModuleList(
            RoIAlign(
                output_size,
                spatial_scale=1.0,
                sampling_ratio=sampling_ratio,
                aligned=aligned) for _ in self.featmap_strides)

    def _level_scales(self, feats: Sequence[Tensor],
                      img_shape: Optional[Tuple[int, int]]
                      ) -> Tuple[Tuple[float, float], ...]:
        """``(sx, sy)`` from view pixels to each level's cells."""
        if img_shape is None:
            return tuple((1. / s, 1. / s) for s in self.featmap_strides)
        img_h, img_w = img_shape
        return tuple((f.shape[-1] / img_w, f.shape[-2] / img_h)
                     for f in feats)

    def forward(self,
                feats: Sequence[Tensor],
                boxes: Tensor,
                levels: Optional[Tensor] = None,
                img_shape: Optional[Tuple[int, int]] = None) -> Tensor:
        """Pool every box at every level, or each box at its own level.

        Args:
            feats (Sequence[Tensor]): ``num_levels`` maps ``[N, C, H_l,
                W_l]`` (finest first, matching ``featmap_strides``).
            boxes (Tensor): ``[N, L, 4]`` ``(x1, y1, x2, y2)`` in view
                pixels.
            levels (Tensor, optional): ``[N, L]`` int level per box. ``None``
                (SoCo faithful): every box at every level. Boxes with level
                ``-1`` (beyond the last threshold) are pooled at the **last**
                level.
            img_shape (tuple[int, int], optional): view ``(h, w)`` in pixels;
                if given, boxes are mapped by ``feat_size / img_size``
                (released SoCo) instead of ``1 / stride``.

        Returns:
            Tensor: ``levels=None``: ``[N, num_levels * L, C, S, S]`` in
            level-major slot order (slot ``l * L + j`` = box ``j`` at level
            ``l``, as :func:`scale_aware_slot_ids`); otherwise
            ``[N, L, C, S, S]``. Dtype of ``feats``.
        """
        if len(feats) != self.num_levels:
            raise ValueError(f'{self.num_levels} levels expected, got '
                             f'{len(feats)}')
        n, num_boxes = boxes.shape[:2]
        if boxes.shape != (n, num_boxes, 4) or feats[0].shape[0] != n:
            raise ValueError(f'boxes [N, L, 4] with N={feats[0].shape[0]} '
                             f'expected, got {tuple(boxes.shape)}')
        dtype = feats[0].dtype
        scales = self._level_scales(feats, img_shape)
        with torch.autocast(device_type=boxes.device.type, enabled=False):
            flat = boxes.detach().float().reshape(n * num_boxes, 4)
            batch_idx = torch.arange(
                n, device=boxes.device,
                dtype=flat.dtype).repeat_interleave(num_boxes)[:, None]

            def rois_at(level: int, sel: Optional[Tensor] = None) -> Tensor:
                sx, sy = scales[level]
                scale = flat.new_tensor([sx, sy, sx, sy])
                rois = torch.cat([batch_idx, flat * scale], dim=1)
                return rois if sel is None else rois[sel]

            if levels is None:
                out = [
                    self.roi_layers[lv](feats[lv].float(), rois_at(lv))
                    for lv in range(self.num_levels)
                ]
                pooled = torch.stack(out, 0)  # [P, N * L, C, S, S]
                pooled = pooled.reshape(self.num_levels, n, num_boxes,
                                        *pooled.shape[2:])
                pooled = pooled.transpose(0, 1).flatten(1, 2)
            else:
                lv_flat = levels.reshape(-1).long()
                if lv_flat.numel() != n * num_boxes:
                    raise ValueError(f'levels must be [N, L] = [{n}, '
                                     f'{num_boxes}], got '
                                     f'{tuple(levels.shape)}')
                if bool(((lv_flat < -1) | (lv_flat >= self.num_levels)
                         ).any()):
                    raise ValueError('levels must be in -1..'
                                     f'{self.num_levels - 1}')
                lv_flat = torch.where(lv_flat < 0, self.num_levels - 1,
                                      lv_flat)
                c = feats[0].shape[1]
                size = self.roi_layers[0].output_size
                pooled = feats[0].new_zeros((n * num_boxes, c, *size),
                                            dtype=torch.float32)
                for lv in range(self.num_levels):
                    sel = (lv_flat == lv).nonzero().squeeze(1)
                    if sel.numel() == 0:
                        continue
                    pooled = pooled.index_copy(
                        0, sel, self.roi_layers[lv](feats[lv].float(),
                                                    rois_at(lv, sel)))
                pooled = pooled.reshape(n, num_boxes, *pooled.shape[1:])
        return pooled.to(dtype)
