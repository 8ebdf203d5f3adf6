# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo's correspondence-masked BYOL regression loss (Wei et al., 2021)."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalfm.registry import MODELS

__all__ = ['CorrespondenceBYOLLoss']


@MODELS.register_module()
class CorrespondenceBYOLLoss(nn.Module):
    """Per-image mean cosine over positive slot pairs, times ``-2``.

    For a directed view pair ``a -> b`` with online predictions ``q`` (view
    ``a``) and target projections ``z`` (view ``b``)::

        L = loss_weight * mean_n( -2 * sum_uv C[n,u,v] <q[n,u], z[n,v]>
                                       / (sum_uv C[n,u,v] + eps) )

    with ``q``/``z`` L2-normalised along the channel dim (released
    ``regression_loss_bboxs_aware``). An image without any positive pair
    contributes ``0`` and still counts in the mean over ``N`` (the released
    code divides by the batch size). Equals the BYOL loss ``2 - 2 cos`` up to
    the constant ``+2``, so a perfect match gives ``-2 * k / (k + eps)``
    (``-2`` for ``eps = 0``).

    ``target`` is **detached** inside: no gradient ever reaches it, even if
    the caller passes a tensor that requires grad (the target branch is a
    momentum encoder). Inputs of any floating dtype (fp16/bf16 under AMP)
    are upcast and the loss is computed and returned in fp32.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        eps (float): Added to the number of positives of each image
            (released ``1e-6``). Defaults to 1e-6.
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor, corr: Tensor) -> Tensor:
        """Compute the loss of one directed view pair.

        Args:
            pred (Tensor): ``[N, A, C]`` online predictions of view ``a``'s
                slots (normalised here; need not be unit length).
            target (Tensor): ``[N, B, C]`` target projections of view
                ``b``'s slots (detached and normalised here).
            corr (Tensor): ``[N, A, B]`` correspondence, bool or 0/1 (any
                dtype); ``corr[n, u, v]`` marks slot ``u`` of ``a`` and slot
                ``v`` of ``b`` as a positive pair. For the reverse direction
                pass ``corr.transpose(1, 2)``.

        Returns:
            Tensor: fp32 scalar loss.
        """
        if pred.dim() != 3 or target.dim() != 3 or corr.dim() != 3:
            raise ValueError('pred [N, A, C], target [N, B, C] and corr '
                             f'[N, A, B] expected, got {tuple(pred.shape)}, '
                             f'{tuple(target.shape)}, {tuple(corr.shape)}')
        n, a, _ = pred.shape
        if corr.shape != (n, a, target.shape[1]) or target.shape[0] != n:
            raise ValueError(f'corr {tuple(corr.shape)} does not match pred '
                             f'{tuple(pred.shape)} and target '
                             f'{tuple(target.shape)}')
        with torch.autocast(device_type=pred.device.type, enabled=False):
            q = F.normalize(pred.float(), dim=-1)
            z = F.normalize(target.detach().float(), dim=-1)
            mask = corr.to(device=q.device, dtype=q.dtype)
            cos = torch.bmm(q, z.transpose(1, 2))  # [N, A, B]
            per_image = -2 * (mask * cos).sum((1, 2)) / (
                mask.sum((1, 2)) + self.eps)
            return self.loss_weight * per_image.mean()
