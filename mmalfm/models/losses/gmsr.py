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
import torch
from torch import Tensor, nn

from ..utils.gather import gather_with_grad, world_size

__all__ = ['coding_rate']

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
                f'world size {world_size()}, gather={self.gather}). Fix: '
                f'{_SMALL_BATCH_FIX}.')
        return z

