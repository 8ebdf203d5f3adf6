# Copyright (c) mmalfm contributors. All rights reserved.
"""A Barlow-Twins redundancy term on id-matched region features."""
import torch
from torch import Tensor, nn

from ..utils.correspondence import match_ids, take_rows

__all__ = ['matched_redundancy']


def matched_redundancy(loss: nn.Module, weight: float, fa: Tensor,
                       ids_a: Tensor, fb: Tensor, ids_b: Tensor) -> Tensor:
    """``weight * loss(C) / D`` with ``C`` the ``D x D`` cross-correlation
    of the batch-standardised features of the id-matched rows (fp32).

    Args:
        loss (nn.Module): e.g. MMPretrain's ``CrossCorrelationLoss``.
        weight (float): The term's weight.
        fa, fb (Tensor): ``[N, M_a, D]`` / ``[N, M_b, D]`` features with ids
            ``[N, M_a]`` / ``[N, M_b]``; row ``j`` of ``b`` is matched to
            the first row of ``a`` with its id.

    Returns:
        Tensor: 0-d; a zero in the graph with fewer than two matched rows.
    """
    index, valid = match_ids(ids_a, ids_b)
    with torch.autocast(device_type=fa.device.type, enabled=False):
        za = take_rows(fa, index)[valid].float()
        zb = fb[valid].float()
        if za.shape[0] < 2:  # nothing to correlate: 0 in the graph
            return (fa.sum() + fb.sum()).float() * 0
        za = (za - za.mean(0)) / (za.var(0, unbiased=False) + 1e-5).sqrt()
        zb = (zb - zb.mean(0)) / (zb.var(0, unbiased=False) + 1e-5).sqrt()
        corr = za.t() @ zb / za.shape[0]
        return weight * loss(corr) / corr.shape[0]
