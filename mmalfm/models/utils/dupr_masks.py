# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR's cell masks: which grid cells take part in a level's Re-ID loss.

* :func:`important_cells` -- the ``num_important`` valid cells of highest
  energy (the "important patches" of DUPR's v1 wording).
* :func:`large_cells` -- the cells at least ``side`` view pixels wide and
  high in every view (a cell smaller than a few strides of a level is a
  fraction of one feature cell there).

Both return ``[N, M]`` bool masks over the ``M`` cells of ``N`` images.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ['check_mask_args', 'important_cells', 'large_cells']


def check_mask_args(num_important: Optional[int], min_cell_strides: float,
                    key: str = 'model.heads.reid.') -> None:
    """Build-time check of DUPR's mask arguments (config path ``key``)."""
    if num_important is not None and num_important < 1:
        raise ValueError(f'{key}num_important must be >= 1 or None, got'
                         f' {num_important}')
    if min_cell_strides < 0:
        raise ValueError(f'{key}min_cell_strides must be >= 0, got '
                         f'{min_cell_strides}')


@torch.no_grad()
def important_cells(pool: nn.Module, maps: Sequence[Tensor],
                    boxes: Sequence[Tensor], valid: Tensor,
                    num_important: Optional[int]) -> Tensor:
    """The top-``num_important`` valid cells by energy.

    The energy of a cell is the mean squared activation of its RoIAlign on
    a feature map, summed over the views.

    Args:
        pool (nn.Module): One-level ``MultiLevelRoIPool`` of the maps.
        maps (Sequence[Tensor]): ``[N, C, H, W]`` map of each view.
        boxes (Sequence[Tensor]): ``[N, M, 4]`` cell boxes in each view.
        valid (Tensor): ``[N, M]`` bool cells that may be kept.
        num_important (int, optional): Cells kept per image; None keeps
            every valid cell.

    Returns:
        Tensor: ``[N, M]`` bool, a subset of ``valid``.
    """
    if num_important is None or valid.shape[1] == 0:
        return valid
    energy = 0
    for feat, view_boxes in zip(maps, boxes):
        rois = pool([feat], view_boxes)  # [N, M, C, S, S]
        energy = energy + rois.float().pow(2).mean(dim=(2, 3, 4))
    energy = energy.masked_fill(~valid, float('-inf'))
    k = min(num_important, valid.shape[1])
    top = energy.topk(k, dim=1).indices
    keep = torch.zeros_like(valid).scatter_(1, top, True)
    return keep & valid


def large_cells(boxes: Sequence[Tensor], side: float) -> Tensor:
    """Cells at least ``side`` pixels wide and high in every view.

    Args:
        boxes (Sequence[Tensor]): ``[N, M, 4]`` cell boxes in each view.
        side (float): Minimum side in view pixels; ``<= 0`` keeps all.

    Returns:
        Tensor: ``[N, M]`` bool.
    """
    ok = torch.ones(
        boxes[0].shape[:-1], dtype=torch.bool, device=boxes[0].device)
    if side <= 0:
        return ok
    for view_boxes in boxes:
        wh = view_boxes[..., 2:] - view_boxes[..., :2]
        ok &= (wh.abs() >= side).all(dim=-1)
    return ok
