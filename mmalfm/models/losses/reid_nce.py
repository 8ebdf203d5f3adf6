# Copyright (c) mmalfm contributors. All rights reserved.
"""Patch re-identification InfoNCE (DUPR): a cell's key in the other view
against the other cells of the same image and a queue."""
from typing import Sequence

from torch import Tensor, nn

from ..utils.negatives import same_image_gallery

__all__ = ['reid_nce', 'symmetric_reid_nce']


def reid_nce(loss: nn.Module, q: Tensor, k: Tensor, valid: Tensor,
             queue: Tensor) -> Tensor:
    """Patch Re-ID InfoNCE of one direction and level.

    Args:
        loss (nn.Module): :class:`~mmalfm.models.losses.InfoNCELoss`.
        q (Tensor): ``[N, M, D]`` queries (cells of view a).
        k (Tensor): ``[N, M, D]`` keys (same cells, view b); cell ``i`` of
            image ``n`` is the positive of query ``(n, i)``.
        valid (Tensor): ``[N, M]`` bool cells that take part (queries and
            gallery negatives).
        queue (Tensor): ``[L, D]`` queue negatives.

    Returns:
        Tensor: mean over valid queries of ``CE([q.k_i, q.k_{j != i, valid,
        same image}, q.queue] / T, 0)``.
    """
    gallery, gallery_mask = same_image_gallery(k, valid)
    return loss(
        q.flatten(0, 1),
        k.flatten(0, 1), [gallery, queue],
        valid=valid.flatten(),
        negative_mask=[gallery_mask, None])


def symmetric_reid_nce(loss: nn.Module, q: Sequence[Tensor],
                       k: Sequence[Tensor], valid: Tensor,
                       queue: Tensor) -> Tensor:
    """Mean of the two directions: ``½ (reid_nce(q_1, k_2) + reid_nce(q_2,
    k_1))`` for the queries ``q`` and keys ``k`` of the two views (each
    ``[N, M, D]``)."""
    return 0.5 * (reid_nce(loss, q[0], k[1], valid, queue) +
                  reid_nce(loss, q[1], k[0], valid, queue))
