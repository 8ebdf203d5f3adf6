# Copyright (c) mmalfm contributors. All rights reserved.
"""All-gather with gradient across ranks (the GMSR losses' entropy term)."""
import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ['gather_with_grad', 'world_size']


def world_size() -> int:
    """Number of ranks (1 without an initialised process group)."""
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
    if world_size() == 1:
        return x
    return _AllGatherWithGrad.apply(x)
