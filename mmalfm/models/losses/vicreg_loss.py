# Copyright (c) mmalfm contributors. All rights reserved.
"""GMSR loss with VICReg terms (Bardes et al., ICLR 2022)."""
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmalfm.registry import MODELS
from .gmsr import _compute_dtype, _GMSRLoss

__all__ = ['VICRegLoss']


@MODELS.register_module()
class VICRegLoss(_GMSRLoss):
    r"""VICReg (Bardes et al., ICLR 2022) as a GMSR surrogate.

    On the raw (not normalised) embeddings; variance and covariance on the
    gathered batch ``Z^g`` (``B_g`` rows, centred, unbiased)::

        invariance = sim_weight * mean_{n,j} (z1_nj - z2_nj)^2      (MSE)
        variance   = var_weight * sum_v mean_j relu(1 - sqrt(Var_j(Z_v) + eps))
        covariance = cov_weight * sum_v sum_{i != j} Cov_ij(Z_v)^2 / d

    i.e. the paper's ``λ s + μ [v(Z1) + v(Z2)] + ν [c(Z1) + c(Z2)]``
    (λ = μ = 25, ν = 1). Note that Meta's release halves the variance term
    (``v`` averaged over the views); set ``var_weight=12.5`` for that.

    Args:
        sim_weight (float): Weight of the invariance MSE. Defaults to 25.
        var_weight (float): Weight of the variance hinge. Defaults to 25.
        cov_weight (float): Weight of the covariance penalty. Defaults to 1.
        eps (float): Added to the variance before the square root.
            Defaults to 1e-4.
        gather (bool): Variance/covariance over all ranks. Defaults to True.
    """

    def __init__(self,
                 sim_weight: float = 25.,
                 var_weight: float = 25.,
                 cov_weight: float = 1.,
                 eps: float = 1e-4,
                 gather: bool = True) -> None:
        super().__init__(gather)
        self.sim_weight = sim_weight
        self.var_weight = var_weight
        self.cov_weight = cov_weight
        self.eps = eps

    def _var_cov(self, z: Tensor) -> Tuple[Tensor, Tensor]:
        """Unweighted variance hinge and covariance penalty of one view."""
        z = self._gather(z)
        n, d = z.shape
        z = z - z.mean(dim=0, keepdim=True)
        cov = z.t() @ z / (n - 1)  # [d, d]
        var = cov.diagonal()
        hinge = F.relu(1 - torch.sqrt(var + self.eps)).mean()
        off_diag = ~torch.eye(d, dtype=torch.bool, device=z.device)
        off = cov[off_diag].square().sum() / d
        return hinge, off

    def forward(self, z1: Tensor, z2: Tensor) -> Dict[str, Tensor]:
        """Loss terms of one pair of global views.

        Args:
            z1 (Tensor): ``[B, d]`` embeddings of view 1 (not normalised).
            z2 (Tensor): ``[B, d]`` embeddings of view 2, same rows.

        Returns:
            dict: fp32 scalars ``invariance``, ``variance``, ``covariance``
            (weighted).
        """
        self._check(z1, z2)
        with torch.autocast(device_type=z1.device.type, enabled=False):
            z1 = z1.to(_compute_dtype(z1))
            z2 = z2.to(_compute_dtype(z2))
            invariance = F.mse_loss(z1, z2)
            var1, cov1 = self._var_cov(z1)
            var2, cov2 = self._var_cov(z2)
            return dict(invariance=self.sim_weight * invariance,
                        variance=self.var_weight * (var1 + var2),
                        covariance=self.cov_weight * (cov1 + cov2))
