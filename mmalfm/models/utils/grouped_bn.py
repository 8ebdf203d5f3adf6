# Copyright (c) mmalfm contributors. All rights reserved.
"""BatchNorm statistics per group of rows inside one batched call.

Region methods push the RoIs of several groups (SoCo: the FPN levels of a
box set) through one head call, because one call is faster than a call per
group. BatchNorm layers in that head would then normalise all groups
together. :func:`grouped_bn_stats` makes every BatchNorm layer of the given
modules normalise each group with that group's own batch statistics, and
update its running statistics once per group in group order, exactly as a
sequence of per-group calls of the same modules would; the affine
parameters are shared. Rows must be *group-contiguous*
(:class:`SlotGroups` reorders ``[N, R, ...]`` slot batches into that
layout and back).

Why a context and not a module: any ``_BatchNorm`` (``nn.BatchNorm1d/2d``,
``nn.SyncBatchNorm``, MMEngine's reverted ``_BatchNormXd``) of any head
works unchanged, checkpoint keys stay as they are, and outside the context
(and in eval mode) the layers are untouched.

* BN, and SyncBN outside a multi-process group: each group goes through the
  layer's own ``forward`` (the same kernel and running-statistics update as
  a per-group call).
* SyncBN once a process group is initialised (DDP): one fused
  computation for all groups, each group's mean and variance reduced across
  the ranks with a differentiable ``all_reduce`` (two per layer, for all
  groups together, where per-group SyncBN calls need one gather per
  group). Statistics are computed in fp32 under AMP. This path also runs
  on CPU (gloo), where ``nn.SyncBatchNorm`` itself cannot.
"""
from contextlib import contextmanager
from typing import Iterator, List, Sequence, Union

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['grouped_bn_stats', 'SlotGroups']

_PATCHED = '_mmalfm_grouped_bn'


def _process_group(bn: _BatchNorm):
    """The process group a SyncBN layer reduces over, or None (local)."""
    if not isinstance(bn, nn.SyncBatchNorm) or not (
            dist.is_available() and dist.is_initialized()):
        return None
    # also for one rank: nn.SyncBatchNorm refuses CPU inputs whenever a
    # process group exists
    return bn.process_group or dist.group.WORLD


def _momentum(bn: _BatchNorm) -> float:
    """The running-statistics factor of one update (as ``_BatchNorm``)."""
    bn.num_batches_tracked.add_(1)
    if bn.momentum is None:  # cumulative moving average
        return 1.0 / float(bn.num_batches_tracked)
    return bn.momentum


def _synced_forward(bn: _BatchNorm, x: Tensor, sizes: Sequence[int],
                    group) -> Tensor:
    """Grouped statistics reduced over ``group`` (see the module doc)."""
    from torch.distributed.nn.functional import all_reduce

    c = x.shape[1]
    x32 = x.float().reshape(x.shape[0], c, -1)  # [R, C, S]
    spatial = x32.shape[-1]
    sizes_t = torch.as_tensor(list(sizes), device=x.device)
    parts = x32.split(list(sizes))
    local = torch.stack([p.sum((0, 2)) for p in parts])  # [G, C]
    count = all_reduce(
        (sizes_t * spatial).to(x32).reshape(-1, 1), group=group)
    if bool((count == 1).any()):
        raise ValueError(
            'grouped BatchNorm needs more than one value per channel in '
            f'every non-empty group, got counts {count.flatten().tolist()}')
    empty = (count == 0).flatten().tolist()  # no rows on any rank
    count = count.clamp(min=2)  # (empty groups: no row reads their stats)
    mean = all_reduce(local, group=group) / count  # [G, C]
    mean_rows = mean.repeat_interleave(sizes_t, 0)[..., None]
    centred = x32 - mean_rows
    sq = torch.stack([p.square().sum((0, 2)) for p in centred.split(
        list(sizes))])
    var = all_reduce(sq, group=group) / count  # biased, [G, C]
    rstd_rows = torch.rsqrt(var + bn.eps).repeat_interleave(sizes_t, 0)
    y = centred * rstd_rows[..., None]
    if bn.affine:
        y = y * bn.weight.float()[:, None] + bn.bias.float()[:, None]
    if bn.track_running_stats:
        with torch.no_grad():
            unbiased = var * (count / (count - 1))
            for g in range(len(sizes)):
                if empty[g]:
                    continue
                m = _momentum(bn)
                bn.running_mean.mul_(1 - m).add_(mean[g].to(
                    bn.running_mean), alpha=m)
                bn.running_var.mul_(1 - m).add_(unbiased[g].to(
                    bn.running_var), alpha=m)
    return y.reshape(x.shape).to(x.dtype)


def _grouped_forward(bn: _BatchNorm, forward, sizes: Sequence[int]):
    """The patched ``forward`` of one layer."""

    def grouped(x: Tensor) -> Tensor:
        if not bn.training or len(sizes) == 1:
            return forward(x)
        if x.shape[0] != sum(sizes):
            raise ValueError(
                f'grouped BatchNorm ({type(bn).__name__}): the input has '
                f'{x.shape[0]} rows but the groups {list(sizes)} hold '
                f'{sum(sizes)}; every module inside grouped_bn_stats must '
                'keep the row (batch) dimension')
        group = _process_group(bn)
        if group is not None:
            return _synced_forward(bn, x, sizes, group)
        # an empty group has no statistics and no update (nothing to call)
        parts = [p for p in x.split(list(sizes)) if len(p)]
        return torch.cat([forward(p) for p in parts]) if parts else x

    return grouped


@contextmanager
def grouped_bn_stats(modules: Union[nn.Module, Sequence[nn.Module]],
                     sizes: Sequence[int]) -> Iterator[None]:
    """Per-group BatchNorm statistics for the calls made inside the context.

    Args:
        modules (nn.Module | Sequence[nn.Module]): The modules whose
            BatchNorm layers (any depth) see group-contiguous rows. None
            entries are skipped.
        sizes (Sequence[int]): Rows of each group, in order; the input of
            every BatchNorm layer called inside has ``sum(sizes)`` rows.

    Example:
        >>> with grouped_bn_stats(head, [n * L] * 4):
        ...     y = head(rows)   # == cat([head(r) for r in rows.split(n*L)])
    """
    if isinstance(modules, nn.Module):
        modules = [modules]
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 0:
        raise ValueError(f'group sizes must be non-negative, got {sizes}')
    layers: List[_BatchNorm] = []
    for module in modules:
        if module is None:
            continue
        for m in module.modules():
            if isinstance(m, _BatchNorm) and m not in layers:
                layers.append(m)
    try:
        for m in layers:
            if getattr(m, _PATCHED, False):
                raise RuntimeError(
                    f'grouped_bn_stats: {type(m).__name__} is already inside '
                    'a grouped_bn_stats context (contexts do not nest)')
            setattr(m, _PATCHED, True)
            m.forward = _grouped_forward(m, m.forward, sizes)
        yield
    finally:
        for m in layers:
            if getattr(m, _PATCHED, False):
                m.__dict__.pop('forward', None)
                delattr(m, _PATCHED)


class SlotGroups:
    """A partition of the ``R`` slots of ``[N, R, ...]`` batches into groups.

    Every image has the same slots, and slot ``r`` belongs to group
    ``groups[r]``. :meth:`to_rows` lays a batch out group-contiguously
    (group ``g``: the slots of ``g`` of image 0, then of image 1, ...) --
    the rows a per-group loop would pass, in the same order -- and
    :meth:`from_rows` puts an output back.

    Args:
        groups (Sequence[int] | Tensor): ``[R]`` group index of each slot,
            in ``0..G-1``.

    Example:
        >>> g = SlotGroups([0, 0, 1, 1])      # SoCo: level-major slots
        >>> rows = g.to_rows(x)              # [N, 4, ...] -> [4N, ...]
        >>> g.sizes(x.shape[0])              # [2N, 2N]
    """

    def __init__(self, groups: Union[Sequence[int], Tensor]) -> None:
        groups = torch.as_tensor(groups, dtype=torch.long).flatten().cpu()
        if groups.numel() == 0 or int(groups.min()) < 0:
            raise ValueError('SlotGroups needs group indices >= 0, got '
                             f'{groups.tolist()}')
        self.num_groups = int(groups.max()) + 1
        self.order = torch.argsort(groups, stable=True)
        self.inverse = torch.argsort(self.order)
        self.counts = torch.bincount(
            groups, minlength=self.num_groups).tolist()
        self.identity = bool((self.order == torch.arange(len(groups))).all())

    @classmethod
    def blocks(cls, num_groups: int, size: int) -> 'SlotGroups':
        """``num_groups`` consecutive blocks of ``size`` slots (SoCo's
        level-major slots: ``blocks(num_levels, L)``)."""
        return cls(torch.arange(num_groups).repeat_interleave(size))

    def sizes(self, num_images: int) -> List[int]:
        """Rows of each group in :meth:`to_rows` of ``num_images`` images."""
        return [c * num_images for c in self.counts]

    def to_rows(self, x: Tensor) -> Tensor:
        """``[N, R, ...]`` -> ``[N * R, ...]`` group-contiguous rows."""
        if not self.identity:
            x = x[:, self.order.to(x.device)]
        parts, start = [], 0
        for c in self.counts:
            parts.append(x[:, start:start + c].flatten(0, 1))
            start += c
        return torch.cat(parts)

    def from_rows(self, rows: Tensor, num_images: int) -> Tensor:
        """Inverse of :meth:`to_rows`: ``[N * R, ...]`` -> ``[N, R, ...]``."""
        parts = rows.split(self.sizes(num_images))
        x = torch.cat([
            p.reshape(num_images, c, *rows.shape[1:])
            for p, c in zip(parts, self.counts)
        ], dim=1)
        if not self.identity:
            x = x[:, self.inverse.to(x.device)]
        return x
