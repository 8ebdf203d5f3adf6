# Copyright (c) mmalfm contributors. All rights reserved.
"""Embedding of the valid cells of a grid: RoIAlign -> MLP -> L2 norm."""
from typing import Optional

import torch.nn.functional as F
from mmengine.dist import get_world_size
from torch import Tensor, nn

__all__ = ['embed_valid_cells']


def embed_valid_cells(pool: nn.Module, mlp: nn.Module, feat: Tensor,
                      boxes: Tensor, valid: Tensor) -> Optional[Tensor]:
    """L2-normalised embeddings of the valid cells, zeros elsewhere.

    Only the valid cells go through the MLP, so padding never enters its
    BN statistics. In a single process fewer than two valid cells give
    None (BN needs two rows); under DDP the MLP always runs, so that every
    rank joins SyncBN's collectives (SyncBN accepts an empty local batch).

    Args:
        pool (nn.Module): One-level ``MultiLevelRoIPool`` of ``feat``.
        mlp (nn.Module): MMPretrain-style neck (tuple in, tuple out), e.g.
            ``NonLinearNeck(with_avg_pool=True)``: ``[R, C, S, S] -> [R,
            D]``.
        feat (Tensor): ``[N, C, H, W]`` feature map.
        boxes (Tensor): ``[N, M, 4]`` cell boxes in view pixels.
        valid (Tensor): ``[N, M]`` bool cells to embed.

    Returns:
        Tensor, optional: ``[N, M, D]`` fp32 embeddings, or None.
    """
    n, m = valid.shape
    if int(valid.sum()) < 2 and get_world_size() == 1:
        return None
    rois = pool([feat], boxes)
    x = mlp((rois.flatten(0, 1)[valid.flatten()], ))[0]
    x = F.normalize(x.float(), dim=1)
    out = x.new_zeros(n * m, x.shape[1])
    out[valid.flatten()] = x
    return out.view(n, m, -1)
