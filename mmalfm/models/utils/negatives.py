# Copyright (c) mmalfm contributors. All rights reserved.
"""Negative providers for :class:`~mmalfm.models.losses.InfoNCELoss`.

Used by CrossCL (dense key windows: P4 all-gathered, P3 local, as released)
and DUPR (same-image gallery + per-level queue).

* :class:`FeatureQueue` -- MoCo FIFO of L2-normalised keys (buffers, so it
  is checkpointed and resumed with the model).
* :func:`dense_window_negatives` -- avg-pooled sliding windows of a key map
  (CrossCL), optionally all-gathered across ranks.
* :func:`same_image_gallery` -- the other cells of the same image as
  per-query negatives, with a validity mask (DUPR).
* :func:`gather_no_grad` -- ``cat(all_gather(x))`` without gradient;
  :func:`gather_valid_rows` -- the valid rows of every rank (DUPR's keys).
* :func:`check_dense_negatives` / :func:`check_level_negatives` -- build
  checks that the maps are large enough for the dense windows.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_world_size
from torch import Tensor, nn

from mmalfm.registry import MODELS

__all__ = [
    'FeatureQueue', 'dense_window_negatives', 'check_dense_negatives',
    'check_level_negatives', 'same_image_gallery', 'gather_no_grad',
    'gather_valid_rows'
]


@torch.no_grad()
def gather_no_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every rank along dim 0, without gradient.

    Rank-major order (rank 0's rows first). Every rank must pass the same
    shape (``torch.distributed.all_gather`` semantics). In a single process
    this returns ``x`` detached (identity on the values).

    Args:
        x (Tensor): ``[B, ...]`` local tensor.

    Returns:
        Tensor: ``[world_size * B, ...]``, detached.
    """
    x = x.detach()
    if get_world_size() == 1:
        return x
    return torch.cat(all_gather(x.contiguous()), dim=0)


def gather_valid_rows(keys: Tensor, mask: Tensor, gather: bool) -> Tensor:
    """The valid rows of every rank (``keys [R, D]``, ``mask [R]``).

    ``R`` may differ between ranks (padded to the largest first, since
    ``all_gather`` needs equal shapes); every rank must call this the same
    number of times, whatever its data. ``gather=False`` (or a single
    process): this rank's valid rows only.
    """
    if not gather or get_world_size() == 1:
        return keys[mask]
    size = keys.new_tensor([keys.shape[0]], dtype=torch.long)
    r_max = int(torch.stack(all_gather(size)).max())
    pad = r_max - keys.shape[0]
    keys = F.pad(keys, (0, 0, 0, pad))
    mask = F.pad(mask, (0, pad), value=False)
    return gather_no_grad(keys)[gather_no_grad(mask)]


@MODELS.register_module()
class FeatureQueue(nn.Module):
    """MoCo FIFO queue of L2-normalised keys, stored as buffers.

    ``queue`` (``[length, dim]``, row = one key) and ``ptr`` (``[1]`` long,
    next row to overwrite) are registered buffers: they are part of
    ``state_dict`` and therefore of checkpoints, and resume restores them.
    Under DDP every rank holds the same queue (keys are gathered before
    enqueueing), so buffer broadcasting from rank 0 is harmless.

    Layout note: MMPretrain's ``MoCoV2.queue`` is ``[dim, length]``; load it
    here with ``.t()``.

    Semantics of :meth:`enqueue` = enqueueing the (gathered) keys one by one:
    key ``j`` of a batch of ``B`` goes to row ``(ptr + j) % length`` and
    ``ptr`` becomes ``(ptr + B) % length``. When the batch crosses the end
    of the queue (``length`` need not be a multiple of the batch, unlike
    MoCo's assert) it is written in two slices, ``[ptr, length)`` then
    ``[0, rest)``. A batch longer than the queue keeps only its last
    ``length`` keys (the earlier ones would be overwritten anyway).

    Args:
        dim (int): Key dimension.
        length (int): Number of keys (MoCo v2: 65536).
        generator (torch.Generator, optional): RNG of the random init
            (standard normal rows, then L2-normalised). Defaults to None
            (torch's global RNG).
    """

    def __init__(self,
                 dim: int,
                 length: int,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        if dim <= 0 or length <= 0:
            raise ValueError(f'dim and length must be positive, got dim={dim}'
                             f', length={length}')
        self.dim = dim
        self.length = length
        init = torch.randn(length, dim, generator=generator)
        self.register_buffer('queue', F.normalize(init, dim=1))
        self.register_buffer('ptr', torch.zeros(1, dtype=torch.long))

    def extra_repr(self) -> str:
        return f'dim={self.dim}, length={self.length}'

    def forward(self) -> Tensor:
        """Current queue as negatives for :class:`InfoNCELoss`.

        Returns a detached **clone**: the loss keeps it for backward, and the
        in-place :meth:`enqueue` of the same step would otherwise trip
        autograd's version check.

        Returns:
            Tensor: ``[length, dim]``.
        """
        return self.queue.detach().clone()

    @torch.no_grad()
    def enqueue(self, keys: Tensor, gather: bool = True) -> None:
        """Gather ``keys`` across ranks (optional), normalise, enqueue.

        Args:
            keys (Tensor): ``[B, dim]`` local keys (any float dtype; stored
                in the queue's dtype).
            gather (bool): All-gather across ranks first (MoCo). Defaults to
                True; a no-op in a single process.
        """
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f'keys must be [B, {self.dim}], got '
                             f'{tuple(keys.shape)}')
        if gather:
            keys = gather_no_grad(keys)
        keys = F.normalize(keys.detach().to(self.queue.dtype), dim=1)
        b = keys.shape[0]
        if b == 0:
            return
        ptr = int(self.ptr.item())
        start = ptr
        if b > self.length:
            start = (ptr + b - self.length) % self.length
            keys = keys[b - self.length:]
        n = keys.shape[0]
        first = min(n, self.length - start)
        self.queue[start:start + first] = keys[:first]
        if n > first:  # wrap-around: second slice at the head
            self.queue[:n - first] = keys[first:]
        self.ptr[0] = (ptr + b) % self.length


def _pair(x: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(x, int):
        return x, x
    h, w = x
    return int(h), int(w)


def check_dense_negatives(input_size: Union[int, Sequence[int]],
                          stride_of_level: int,
                          kernel: int = 3,
                          window_stride: int = 1) -> Tuple[int, int]:
    """Build-time check that a level is large enough for dense windows.

    The map size is ``ceil(input / stride_of_level)`` (exact for ResNet,
    whose stride-2 layers all give ``ceil(x / 2)``).

    Args:
        input_size (int | (int, int)): View size ``(h, w)`` in pixels.
        stride_of_level (int): Feature stride (CrossCL: P4 16, P3 8).
        kernel (int): Window side in map cells. Defaults to 3.
        window_stride (int): Window stride in map cells. Defaults to 1.

    Returns:
        tuple[int, int]: Window grid ``(out_h, out_w)``; the number of
        negatives per image is ``out_h * out_w`` (224 px: P4 12x12 = 144,
        P3 26x26 = 676).

    Raises:
        ValueError: The map is smaller than the kernel (message names the
            map size).
    """
    h, w = _pair(input_size)
    fh = math.ceil(h / stride_of_level)
    fw = math.ceil(w / stride_of_level)
    return _window_grid(fh, fw, kernel, window_stride,
                        f' (input {h}x{w}, stride {stride_of_level})')


def check_level_negatives(owner: str, view_size: int,
                          neg_pool: Sequence[int],
                          level_strides: Sequence[int],
                          names: Sequence[str] = ('P3', 'P4'),
                          prefix: str = 'model.heads.region.') -> None:
    """Build-time check of a model's dense negatives on several levels.

    Args:
        owner (str): The model, for the messages.
        view_size (int): ``<prefix>view_size``.
        neg_pool (Sequence[int]): ``<prefix>neg_pool = (kernel, stride)``.
        level_strides (Sequence[int]): ``<prefix>level_strides``, one per
            name of ``names``.
        names (Sequence[str]): Level names for the messages.
        prefix (str): Where the keys live in the config (CrossCL's region
            head by default).

    Raises:
        ValueError: Naming the config keys and the smallest view that fits.
    """
    if len(neg_pool) != 2 or len(level_strides) != len(names):
        raise ValueError(f'{prefix}neg_pool=(kernel, stride) and '
                         f'{prefix}level_strides={tuple(names)} need 2 and '
                         f'{len(names)} values, got {neg_pool} and '
                         f'{level_strides}')
    kernel, nstride = (int(v) for v in neg_pool)
    for name, s in zip(names, level_strides):
        try:
            check_dense_negatives(view_size, int(s), kernel, nstride)
        except ValueError as err:
            raise ValueError(
                f'{owner}: view size {prefix}view_size={view_size} is too '
                f'small for the {kernel}x{kernel} dense {name} negatives: '
                f'{err}. Use views of at least {kernel * int(s)} px or a '
                f'smaller {prefix}neg_pool kernel.') from None


def _window_grid(h: int, w: int, kernel: int, stride: int,
                 where: str = '') -> Tuple[int, int]:
    if kernel < 1 or stride < 1:
        raise ValueError(f'kernel and stride must be >= 1, got {kernel}, '
                         f'{stride}')
    if h < kernel or w < kernel:
        raise ValueError(f'feature map {h}x{w}{where} is smaller than the '
                         f'{kernel}x{kernel} dense-negative window')
    return (h - kernel) // stride + 1, (w - kernel) // stride + 1


def dense_window_negatives(feat: Tensor,
                           kernel: int = 3,
                           stride: int = 1,
                           gather: bool = False) -> Tensor:
    """Dense sliding-window negatives of a key feature map (CrossCL).

    ``avg_pool2d(kernel, stride, no padding)`` (only full windows), then
    L2-normalised along channels. Computed in fp32. Row order: image-major,
    then row-major over the window grid (``n * oh * ow + i * ow + j``); when
    gathered, rank-major before that.

    CrossCL at 224 px: P4 ``gather=True`` (12x12 = 144 windows per image,
    global), P3 ``gather=False`` (26x26 = 676 per image, local only). For
    384 / 480 px views CrossCL uses ``kernel/stride`` 4/2 and 5/2.

    Args:
        feat (Tensor): ``[N, C, H, W]`` key feature map.
        kernel (int): Window side. Defaults to 3.
        stride (int): Window stride. Defaults to 1.
        gather (bool): All-gather across ranks. The result is then detached
            (also in a single process, for identical behaviour); otherwise
            the gradient follows ``feat``. Defaults to False.

    Returns:
        Tensor: ``[M, C]`` fp32 unit vectors, ``M = (world_size if gather)
        * N * oh * ow``.

    Raises:
        ValueError: ``H`` or ``W`` smaller than ``kernel`` (names the size).
    """
    if feat.dim() != 4:
        raise ValueError(f'feat must be [N, C, H, W], got '
                         f'{tuple(feat.shape)}')
    n, c, h, w = feat.shape
    _window_grid(h, w, kernel, stride)
    with torch.autocast(device_type=feat.device.type, enabled=False):
        pooled = F.avg_pool2d(feat.float(), kernel, stride)  # [N,C,oh,ow]
        vec = pooled.permute(0, 2, 3, 1).reshape(-1, c)
        vec = F.normalize(vec, dim=1)
    if gather:
        vec = gather_no_grad(vec)
    return vec


def same_image_gallery(
        keys: Tensor,
        valid: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Per-query negatives: the other cells of the same image (DUPR).

    Query row ``n * R + i`` (cell ``i`` of image ``n``) gets the keys of
    cells ``j != i`` of image ``n`` in increasing ``j`` order -- its own
    positive key is never among them. Invalid cells are *not* removed (shapes
    stay rectangular) but flagged ``False`` in the returned mask; pass it as
    ``negative_mask`` to :class:`InfoNCELoss` (``-inf`` logits). Rows of
    invalid query cells should be dropped with ``valid=valid.flatten()`` in
    the loss. Keys are returned as given (no normalisation, no detach).

    Args:
        keys (Tensor): ``[N, R, C]`` keys of the ``R`` cells of each image.
        valid (Tensor, optional): ``[N, R]`` bool cell validity. Defaults to
            None (all valid).

    Returns:
        tuple[Tensor, Tensor]: ``negatives [N * R, R - 1, C]`` and
        ``negative_mask [N * R, R - 1]`` (bool, ``True`` = takes part).
    """
    if keys.dim() != 3:
        raise ValueError(f'keys must be [N, R, C], got {tuple(keys.shape)}')
    n, r, c = keys.shape
    if valid is None:
        valid = torch.ones(n, r, dtype=torch.bool, device=keys.device)
    if valid.shape != (n, r) or valid.dtype != torch.bool:
        raise ValueError(f'valid must be a bool [N, R] = [{n}, {r}] tensor, '
                         f'got {valid.dtype} {tuple(valid.shape)}')
    # others[i] = [j for j in range(r) if j != i]
    ar = torch.arange(r, device=keys.device)
    others = ar.repeat(r, 1)[~torch.eye(r, dtype=torch.bool,
                                        device=keys.device)].view(r, r - 1)
    negatives = keys[:, others]  # [N, R, R-1, C]
    mask = valid.to(keys.device)[:, others]  # [N, R, R-1]
    return negatives.reshape(n * r, r - 1, c), mask.reshape(n * r, r - 1)
