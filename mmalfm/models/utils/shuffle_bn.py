# Copyright (c) mmalfm contributors. All rights reserved.
"""MoCo's ShuffleBN across ranks, untouched in a single process."""
from typing import Optional, Tuple

from mmengine.dist import get_world_size
from mmpretrain.models.utils import \
    batch_shuffle_ddp as mmpretrain_batch_shuffle
from mmpretrain.models.utils import \
    batch_unshuffle_ddp as mmpretrain_batch_unshuffle
from torch import Tensor

__all__ = ['batch_shuffle_ddp', 'batch_unshuffle_ddp']


def batch_shuffle_ddp(x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
    """MoCo's batch shuffle across ranks (ShuffleBN), without gradient.

    MMPretrain's :func:`~mmpretrain.models.utils.batch_shuffle_ddp` (rank
    0's permutation of the gathered global batch, each rank keeps its
    slice), except that a single process is left untouched: no permutation
    and no draw from the global RNG, so one-process runs do not depend on
    it. Every rank must have the same batch size (``drop_last=True``).

    Args:
        x (Tensor): ``[B, ...]`` local batch.

    Returns:
        tuple[Tensor, Tensor | None]: The shuffled local batch ``[B, ...]``
        and the global inverse permutation ``[world * B]`` for
        :func:`batch_unshuffle_ddp` (None in a single process).
    """
    if get_world_size() == 1:
        return x, None
    return mmpretrain_batch_shuffle(x)


def batch_unshuffle_ddp(x: Tensor, unshuffle: Optional[Tensor]) -> Tensor:
    """Undo :func:`batch_shuffle_ddp` on an output ``[B, ...]``
    (MMPretrain's ``batch_unshuffle_ddp``; identity in a single
    process)."""
    if unshuffle is None:
        return x
    return mmpretrain_batch_unshuffle(x, unshuffle)
