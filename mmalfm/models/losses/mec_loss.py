# Copyright (c) mmalfm contributors. All rights reserved.
"""GMSR loss with Maximum Entropy Coding (Liu et al., NeurIPS 2022)."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmalfm.registry import MODELS
from .gmsr import _compute_dtype, _GMSRLoss

__all__ = ['MECLoss']


@MODELS.register_module()
class MECLoss(_GMSRLoss):
    r"""Maximum Entropy Coding (Liu et al., NeurIPS 2022), order-``n`` Taylor.

    MEC minimises the coding length of the cross-view matrix::

        L_MEC = -mu logdet(I_B + lam Ẑ1 Ẑ2^T)
              ≈ -mu Tr( sum_{k=1..n} (-1)^(k+1) / k  C^k ),  C = lam Ẑ1 Ẑ2^T
        mu = (B + d) / 2,   lam = d / (B eps2)

    (rows L2-normalised, ``B`` the gathered batch; ``Tr(C^k)`` is the same
    for ``Ẑ1 Ẑ2^T`` and ``Ẑ2 Ẑ1^T`` and, by the cyclic property, for the
    ``d x d`` ``Ẑ1^T Ẑ2``, so one term is symmetric in the views; the
    ``min(B, d)`` square form is used). The returned term is ``L_MEC`` divided
    by the constant ``mu B lam`` (the scaling of the MEC release)::

        mec = -loss_weight * Tr(sum_k ...) / (B lam)
            = -loss_weight * eps2 / d * Tr(sum_k ...)

    so that the first-order term is exactly ``-mean_n <ẑ1_n, ẑ2_n>`` (the
    alignment, in ``[-1, 1]``) and the higher orders add the entropy; ``mu``
    only rescales and does not appear in the gradient direction.

    The series converges for ``||C||_2 < 1``. Since ``||Ẑ1 Ẑ2^T||_2 <= B``,
    ``eps2 > d`` guarantees it; whitened embeddings have
    ``||C||_2 ≈ d / (eps2 min(B, d))``. **Do not reuse the coding rate's
    ``eps2 = 0.05``** (``||C|| ≈ 20``: the truncated series is meaningless).
    The default ``eps2=None`` uses ``eps2 = d / 32`` -- the MEC release's
    ratio (``eps2 = 64`` at ``d = 2048``).

    Args:
        eps2 (float, optional): Squared distortion; ``None`` -> ``d / 32``.
            Defaults to None.
        order (int): Taylor order ``n >= 1``. Defaults to 4.
        loss_weight (float): Multiplier. Defaults to 1.0.
        gather (bool): Use the embeddings of all ranks. Defaults to True.
    """

    def __init__(self,
                 eps2: Optional[float] = None,
                 order: int = 4,
                 loss_weight: float = 1.0,
                 gather: bool = True) -> None:
        super().__init__(gather)
        if eps2 is not None and eps2 <= 0:
            raise ValueError(f'eps2 must be > 0 or None, got {eps2}')
        if not isinstance(order, int) or order < 1:
            raise ValueError(f'order must be an int >= 1, got {order!r}')
        self.eps2 = eps2
        self.order = order
        self.loss_weight = loss_weight

    def forward(self, z1: Tensor, z2: Tensor) -> Dict[str, Tensor]:
        """Loss of one pair of global views.

        Args:
            z1 (Tensor): ``[B, d]`` embeddings of view 1 (normalised here).
            z2 (Tensor): ``[B, d]`` embeddings of view 2, same rows.

        Returns:
            dict: fp32 scalar ``mec`` (weighted).
        """
        self._check(z1, z2)
        d = z1.shape[1]
        with torch.autocast(device_type=z1.device.type, enabled=False):
            z1 = self._gather(F.normalize(z1.to(_compute_dtype(z1)), dim=1))
            z2 = self._gather(F.normalize(z2.to(_compute_dtype(z2)), dim=1))
            b = z1.shape[0]
            eps2 = self.eps2 if self.eps2 is not None else d / 32
            lam = d / (b * eps2)
            c = lam * (z1 @ z2.t() if b <= d else z1.t() @ z2)
            power = c
            series = torch.zeros((), dtype=c.dtype, device=c.device)
            for k in range(1, self.order + 1):
                if k > 1:
                    power = power @ c
                sign = 1.0 if k % 2 == 1 else -1.0
                series = series + sign / k * power.diagonal().sum()
            return dict(mec=-self.loss_weight * series / (b * lam))
