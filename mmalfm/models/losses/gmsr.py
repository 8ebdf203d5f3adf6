# Copyright (c) mmalfm contributors. All rights reserved.
r"""GMSR losses of ALFM: alignment + an entropy term (Fang et al., 2025).

ALFM's *global minimal sufficient representation* branch maximises the
similarity of the embeddings of two views while increasing the differential
entropy of each view's embeddings. Three interchangeable, registered losses
implement the entropy term (pick one by config, ``gmsr_loss=dict(type=...)``):

* :class:`CodingRateLoss` (default) -- the log-det coding rate
  :func:`coding_rate` of the L2-normalised embeddings (MCR²/EMP-SSL).
* :class:`MECLoss` -- Maximum Entropy Coding (Liu et al., NeurIPS 2022): the
  Taylor-expanded log-det of the cross-view matrix; the first-order term *is*
  the alignment term.
* :class:`VICRegLoss` -- VICReg's variance/covariance surrogates of the
  Gaussian entropy plus the invariance MSE (Bardes et al., ICLR 2022).

Common contract: ``forward(z1 [B, d], z2 [B, d]) -> Dict[str, Tensor]`` of
already weighted fp32 scalars whose *sum* is the GMSR loss (the ALFM
algorithm prefixes the keys with ``loss_gmsr_``). Inputs of any floating
dtype are upcast (fp64 stays fp64) and everything runs with autocast
disabled: a log-det in fp16 overflows. With ``gather=True`` the entropy term
uses the embeddings of *all* ranks (:func:`gather_with_grad`, the gradient of
the local slice is kept); the alignment/invariance term stays per rank (its
mean over ranks is what DDP's gradient averaging optimises anyway).

None of MMPretrain/MMEngine ships these losses (MMPretrain has no coding-rate,
MEC or VICReg loss in 1.2.0), hence hand-written here.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from mmalfm.registry import MODELS

__all__ = [
    'coding_rate', 'gather_with_grad', 'CodingRateLoss', 'MECLoss',
    'VICRegLoss'
]

_SMALL_BATCH_FIX = ('gather across ranks (gather=True) or raise the '
                    'per-rank batch (train_dataloader.batch_size)')


def _compute_dtype(x: Tensor) -> torch.dtype:
    """fp32 for fp16/bf16/fp32 inputs, fp64 for fp64 inputs."""
    return torch.promote_types(x.dtype, torch.float32)


def _spd_logdet(m: Tensor) -> Tensor:
    """``logdet`` of a symmetric positive-definite matrix via Cholesky.

    ``2 * sum(log(diag(L)))`` with ``m = L L^T``. The matrices here are
    ``I + c * A`` with ``A`` PSD, so every eigenvalue is ``>= 1``: Cholesky
    is backward stable, needs no pivoting and is about half the cost of the
    LU behind ``torch.logdet`` (whose sign handling is useless here). If the
    factorisation fails (non-finite input) the result is NaN rather than an
    exception, so the training loop's ``NonFiniteCheckHook`` reports it with
    the term and the iteration; no host-device synchronisation is needed
    here for that.
    """
    chol, info = torch.linalg.cholesky_ex(m)
    logdet = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return torch.where(info == 0, logdet, torch.full_like(logdet,
                                                          float('nan')))


def coding_rate(z: Tensor, eps2: float = 0.05, form: str = 'auto') -> Tensor:
    r"""Coding rate ``R_eps(Z) = 1/2 logdet(I_d + d / (B eps2) Z^T Z)``.

    The rate (in nats) needed to code the ``B`` rows of ``Z`` up to a mean
    squared distortion ``eps2`` (Ma et al., 2007) -- the differential entropy
    surrogate of a Gaussian with covariance ``Z^T Z / B``. The rows are used
    as given (normalise them first if you want unit-norm rows).

    By Sylvester's identity ``det(I_d + c Z^T Z) = det(I_B + c Z Z^T)``:
    ``form='auto'`` uses the ``B x B`` Gram form when ``B < d`` and the
    ``d x d`` covariance form otherwise (cost ``min(B, d)^3``). The log-det
    is a Cholesky log-det (see :func:`_spd_logdet`), computed in fp32 (fp64
    for fp64 inputs) with autocast disabled.

    Args:
        z (Tensor): ``[B, d]`` embeddings, any floating dtype.
        eps2 (float): The squared distortion ``eps^2 > 0``. Defaults to 0.05.
        form (str): ``'auto'``, ``'gram'`` (``B x B``) or ``'cov'``
            (``d x d``); the latter two are for tests. Defaults to ``'auto'``.

    Returns:
        Tensor: 0-d fp32 (fp64 for fp64 input) coding rate.
    """
    if z.dim() != 2:
        raise ValueError(f'coding_rate expects z of shape [B, d], got '
                         f'{tuple(z.shape)}')
    if eps2 <= 0:
        raise ValueError(f'eps2 must be > 0, got {eps2}')
    if form not in ('auto', 'gram', 'cov'):
        raise ValueError(f"form must be 'auto', 'gram' or 'cov', got "
                         f'{form!r}')
    b, d = z.shape
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = z.to(_compute_dtype(z))
        scale = d / (b * eps2)
        if form == 'gram' or (form == 'auto' and b < d):
            gram = z @ z.t()  # [B, B]
        else:
            gram = z.t() @ z  # [d, d]
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        return 0.5 * _spd_logdet(eye + scale * gram)


def _world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


class _AllGatherWithGrad(torch.autograd.Function):
    """``cat(all_gather(x))`` whose backward returns this rank's slice of the
    all-reduced (summed) gradient.

    Hand-written because ``torch.distributed.nn.functional.all_gather`` is
    deprecated (FutureWarning) and its replacement in
    ``torch.distributed._functional_collectives`` is private; MMEngine's
    ``all_gather`` has no gradient. The backward uses ``all_reduce`` rather
    than ``reduce_scatter`` so that it also runs on gloo (CPU); the gathered
    embeddings are small (``[world_size * B, d]``).
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.contiguous()
        chunks = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(chunks, x)
        ctx.rows = x.shape[0]
        ctx.rank = dist.get_rank()
        return torch.cat(chunks, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = ctx.rank * ctx.rows
        return grad[start:start + ctx.rows]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` over ranks along dim 0, keeping the gradient.

    Rank-major order (rank 0's rows first); every rank must pass the same
    shape and call it (collective). The backward sums the gradients every
    rank computed for this rank's rows. When every rank computes the same
    loss of the gathered batch, the local rows thus receive ``world_size``
    times the gradient of that loss, and DDP's averaging over ranks gives
    exactly the gradient of the global loss.
    (:func:`mmalfm.models.utils.gather_no_grad` is the detached variant.)

    Args:
        x (Tensor): ``[B, ...]`` local tensor.

    Returns:
        Tensor: ``[world_size * B, ...]``; ``x`` itself in a single process.
    """
    if _world_size() == 1:
        return x
    return _AllGatherWithGrad.apply(x)


class _GMSRLoss(nn.Module):
    """Shared input checks and cross-rank gathering of the GMSR losses."""

    def __init__(self, gather: bool = True) -> None:
        super().__init__()
        self.gather = gather

    def _check(self, z1: Tensor, z2: Tensor) -> None:
        if z1.dim() != 2 or z1.shape != z2.shape:
            raise ValueError(f'{type(self).__name__} expects z1 and z2 of the '
                             f'same shape [B, d], got {tuple(z1.shape)} and '
                             f'{tuple(z2.shape)}')
        if not (z1.is_floating_point() and z2.is_floating_point()):
            raise TypeError(f'{type(self).__name__} expects floating '
                            f'embeddings, got {z1.dtype} and {z2.dtype}')

    def _gather(self, z: Tensor) -> Tensor:
        """Gathered (if ``gather``) rows; checks the estimator's batch."""
        local = z.shape[0]
        if self.gather:
            z = gather_with_grad(z)
        if z.shape[0] < 2:
            raise ValueError(
                f'{type(self).__name__}: the entropy estimator needs at least '
                f'2 embeddings, got {z.shape[0]} (per-rank batch {local}, '
                f'world size {_world_size()}, gather={self.gather}). Fix: '
                f'{_SMALL_BATCH_FIX}.')
        return z


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
