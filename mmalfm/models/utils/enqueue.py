# Copyright (c) mmalfm contributors. All rights reserved.
"""Enqueueing the valid keys of a step in a :class:`FeatureQueue`."""
from typing import Optional

import torch
from torch import Tensor

from .negatives import FeatureQueue, gather_valid_rows

__all__ = ['enqueue_valid_keys']


@torch.no_grad()
def enqueue_valid_keys(queue: FeatureQueue, keys: Optional[Tensor],
                       valid: Tensor, gather: bool) -> None:
    """Enqueue the valid keys of every rank.

    Every rank must call this the same number of times per step, whatever
    its data (``gather_valid_rows`` is a collective): a rank with nothing
    to enqueue passes ``keys=None`` and still joins the gather.

    Args:
        queue (FeatureQueue): The queue of ``D``-dim keys.
        keys (Tensor, optional): ``[..., D]`` keys (e.g. ``[N, M, D]``).
        valid (Tensor): ``[...]`` bool mask over the keys' leading dims.
        gather (bool): All-gather the valid keys across ranks first.
    """
    if keys is None:
        keys = valid.new_zeros((0, queue.dim), dtype=torch.float)
        valid = valid.new_zeros(0)
    queue.enqueue(
        gather_valid_rows(keys.flatten(0, -2), valid.flatten(), gather),
        gather=False)
