# Copyright (c) mmalfm contributors. All rights reserved.
"""GMSR loss of ALFM with the coding-rate entropy term (see ``gmsr.py``)."""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor

from mmalfm.registry import MODELS
from .gmsr import _compute_dtype, _GMSRLoss, coding_rate

__all__ = ['CodingRateLoss']


@MODELS.register_module()
class CodingRateLoss(_GMSRLoss):
    r"""Alignment + coding-rate entropy (ALFM's default GMSR loss).

    With row-normalised ``Ẑ_v`` (``[B, d]``; ``Ẑ_v^g`` gathered over ranks,
    ``B_g`` rows)::

        align   = align_weight * mean_n (2 - 2 <ẑ1_n, ẑ2_n>)
        entropy = -beta * 1/2 * (R_eps(Ẑ1^g) + R_eps(Ẑ2^g)) / d
        R_eps(Ẑ) = 1/2 logdet(I_d + d / (B_g eps2) Ẑ^T Ẑ)     (coding_rate)

    ``align`` is in ``[0, 4]``. ``R/d`` is ``1/2 log(1 + 1/eps2)`` for
    whitened rows (``Ẑ^T Ẑ = B_g/d I``, needs ``B_g >= d``; 30.4/2 = 1.52
    nats at ``eps2 = 0.05``) and ``1/2 log(1 + d/eps2) / d`` for a collapsed
    batch (all rows equal; 0.017 at ``d = 256``).

    Args:
        eps2 (float): Squared distortion of :func:`coding_rate`
            (ablate {0.01, 0.05, 0.2}). Defaults to 0.05.
        beta (float): Weight of the entropy term (ablate {0.5, 1, 2, 5}).
            Defaults to 1.0.
        align_weight (float): Weight of the alignment term. Defaults to 1.0.
        gather (bool): Compute the coding rate of the embeddings of all
            ranks (gradient kept for the local slice). Defaults to True.
    """

    def __init__(self,
                 eps2: float = 0.05,
                 beta: float = 1.0,
                 align_weight: float = 1.0,
                 gather: bool = True) -> None:
        super().__init__(gather)
        if eps2 <= 0:
            raise ValueError(f'eps2 must be > 0, got {eps2}')
        self.eps2 = eps2
        self.beta = beta
        self.align_weight = align_weight

    def forward(self, z1: Tensor, z2: Tensor) -> Dict[str, Tensor]:
        """Loss terms of one pair of global views.

        Args:
            z1 (Tensor): ``[B, d]`` embeddings of view 1 (normalised here).
            z2 (Tensor): ``[B, d]`` embeddings of view 2, same rows.

        Returns:
            dict: fp32 scalars ``align`` and ``entropy`` (weighted).
        """
        self._check(z1, z2)
        d = z1.shape[1]
        with torch.autocast(device_type=z1.device.type, enabled=False):
            z1 = F.normalize(z1.to(_compute_dtype(z1)), dim=1)
            z2 = F.normalize(z2.to(_compute_dtype(z2)), dim=1)
            align = (2 - 2 * (z1 * z2).sum(dim=1)).mean()
            rate = 0.5 * (coding_rate(self._gather(z1), self.eps2) +
                          coding_rate(self._gather(z2), self.eps2))
            return dict(align=self.align_weight * align,
                        entropy=-self.beta * rate / d)
