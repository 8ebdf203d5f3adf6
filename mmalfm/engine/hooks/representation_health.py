# Copyright (c) mmalfm contributors. All rights reserved.
"""Cheap, periodic diagnostics of the learned representation.

Self-supervised methods fail silently: a collapsed encoder (every image mapped
to the same vector) still lowers a BYOL loss, and a region method whose
matcher finds no positive pairs trains on nothing. :class:`RepresentationHealthHook`
logs a handful of scalars that make both visible in the text log and in every
visualizer backend (TensorBoard, W&B, ...).

The model protocol
------------------
The hook reads what the algorithm (``runner.model``, unwrapped from DDP/FSDP
with :func:`mmengine.model.is_model_wrapper`) exposes. An algorithm *may*
implement ::

    def health_tensors(self) -> Optional[dict]:
        '''Tensors of the last training forward, for RepresentationHealthHook.'''

returning ``None`` (nothing cached yet) or a dict with any of the keys

- ``embeddings`` (Tensor ``[N, ...]``): the online embeddings of the last
  forward, one row per sample (image or region); flattened to ``[N, d]``.
- ``pos_pairs`` (int, 0-d Tensor, 1-d Tensor ``[B]`` or bool Tensor
  ``[B, ...]``): the positive (matched) region pairs of the last batch,
  as the total count (int / 0-d), the per-image counts (1-d, non-bool) or a
  match mask whose leading dimension is the image (bool, any rank >= 1).
- ``possible_pairs`` (int or Tensor, optional): the number of candidate pairs
  the matcher could have matched (a Tensor is summed). Defaults to the number
  of entries of a bool ``pos_pairs`` mask; without it ``pos_frac`` is not
  logged.
- ``num_images`` (int, optional): the number of images of the batch.
  Defaults to the leading dimension of a 1-d/bool ``pos_pairs`` and else to
  the batch size of ``data_batch``.

The algorithm should cache them *detached* (``tensor.detach()``) in its
``loss`` and overwrite them on each forward; the hook only reads them, after
the train step of every ``interval``-th iteration.

Without ``health_tensors`` (or when it gives no ``embeddings``), the hook
registers a forward hook on ``model.neck`` for the duration of the logged
iteration and uses the output of the neck's *first* call of that iteration
(its first element if it is a tuple/list, as for MMPretrain's necks, flattened
to ``[N, d]``). For MMPretrain's ``BYOL`` that is the online projection of the
first view (the target network holds a deep copy of the neck, which the hook
does not see). The first call only is kept so that the rows are different
images, not two views of the same image.

Logged scalars (``train/<prefix>/<name>``)
------------------------------------------
- ``std``: the mean over dimensions of the per-dimension (unbiased) standard
  deviation of the L2-normalised embeddings: 0 for a collapsed batch,
  ``1/sqrt(d)`` for well spread ones (exactly so for one-hot rows, N = d).
- ``eff_rank``: the effective rank (Roy & Vetterli, 2007; the RankMe of
  Garrido et al., 2023), ``exp(-sum p_k log p_k)`` with
  ``p_k = s_k / sum s`` of the singular values ``s`` of the L2-normalised
  embedding matrix: 1 when collapsed, ``d`` for ``N = d`` orthonormal rows,
  at most ``min(N, d)``. With ``center_rank=True`` the matrix is centred
  first (the rank of the spread around the mean: ``d - 1`` for ``N = d``
  one-hot rows, since centred rows sum to zero; a fully collapsed batch, a
  zero centred matrix, reports 1). Not centring is the default because
  near-collapse (a constant plus small isotropic noise) then reads about 1,
  where the centred matrix would show the full rank of the noise.
- ``mean_cos``: the mean cosine similarity over pairs of different rows
  (off-diagonal of the Gram matrix): 1 when collapsed, about 0 when spread.
- ``pos_frac``: matched pairs / possible pairs of the batch.
- ``num_pos``: the mean number of matched pairs per image.
- ``skipped_images``: the running count of images
  :class:`~mmalfm.datasets.transforms.LoadImageWithCheck` skipped as corrupt
  (kept in shared memory, so forked dataloader workers' skips count).

Cost and distributed training
-----------------------------
Everything runs under :func:`torch.no_grad` in float32 on at most
``max_samples`` rows: one SVD of a ``<= max_samples x d`` matrix every
``interval`` iterations. The hook uses only the *local* data of each rank and
performs no collective operation, so it cannot deadlock or desynchronise
ranks; the logged values are those of rank 0's batch (MMEngine logs rank 0's
message hub), ``skipped_images`` included.

The logger prints the *latest* value of each scalar at every logging
iteration, so choose ``interval`` a multiple of the logger's interval for the
printed values to be those of the printed iteration.
"""
import math
from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from mmalfm.datasets.transforms.loading import LoadImageWithCheck
from mmalfm.registry import HOOKS

DATA_BATCH = Optional[Any]

def _as_2d(x: Tensor, max_samples: int) -> Tensor:
    """At most ``max_samples`` rows of ``x`` as a float32 ``[N, d]``."""
    x = x.detach()
    if x.dim() == 1:
        x = x[:, None]
    return x[:max_samples].flatten(1).float()


def embedding_stats(embeddings: Tensor,
                    max_samples: Optional[int] = None,
                    center_rank: bool = False) -> Dict[str, float]:
    """``std``, ``eff_rank`` and ``mean_cos`` of a batch of embeddings.

    Args:
        embeddings (Tensor): ``[N, ...]``, one row per sample; flattened to
            ``[N, d]`` and L2-normalised row-wise.
        max_samples (int, optional): Use at most the first ``max_samples``
            rows. Defaults to all.
        center_rank (bool): Centre the rows before the SVD of ``eff_rank``.
            Defaults to False.

    Returns:
        dict: ``std``, ``eff_rank`` and ``mean_cos`` as floats (see the module
        documentation); empty when there are fewer than two rows.
    """
    with torch.no_grad():
        z = _as_2d(embeddings, max_samples or embeddings.shape[0])
        n, d = z.shape
        if n < 2 or d < 1:
            return {}
        z = F.normalize(z, dim=1)

        std = z.std(dim=0).mean()

        # Off-diagonal mean of z z^T without forming it:
        # sum_ij <z_i, z_j> = |sum_i z_i|^2, and the diagonal is |z_i|^2.
        total = z.sum(dim=0).square().sum()
        diag = z.square().sum()
        mean_cos = (total - diag) / (n * (n - 1))

        if center_rank:
            z = z - z.mean(dim=0, keepdim=True)
        s = torch.linalg.svdvals(z)
        # Rounding noise (rows have at most unit norm, so the matrix norm is
        # at most sqrt(n)) is not rank.
        tol = max(n, d) * torch.finfo(s.dtype).eps * math.sqrt(n)
        s = s[s > tol]
        if s.numel() == 0:
            eff_rank = 1.0
        else:
            p = s / s.sum()
            eff_rank = torch.exp(-(p * p.log()).sum()).item()
        return dict(std=std.item(),
                    eff_rank=eff_rank,
                    mean_cos=mean_cos.item())


def _count(x: Any) -> float:
    """The total of an int or a tensor of counts."""
    if isinstance(x, Tensor):
        return x.detach().float().sum().item()
    return float(x)


def pair_stats(health: dict,
               batch_size: Optional[int] = None) -> Dict[str, float]:
    """``pos_frac`` and ``num_pos`` from the ``pos_pairs``,
    ``possible_pairs`` and ``num_images`` of a ``health_tensors()`` dict
    (see the module documentation)."""
    pos = health.get('pos_pairs')
    if pos is None:
        return {}
    num_images = health.get('num_images')
    possible = health.get('possible_pairs')
    if isinstance(pos, Tensor) and pos.dim() >= 1 and (pos.dtype == torch.bool
                                                       or pos.dim() == 1):
        if num_images is None:
            num_images = pos.shape[0]
        if possible is None and pos.dtype == torch.bool:
            possible = pos.numel()
    if num_images is None:
        num_images = batch_size
    total = _count(pos)
    out = {}
    if possible is not None and _count(possible) > 0:
        out['pos_frac'] = total / _count(possible)
    if num_images:
        out['num_pos'] = total / float(num_images)
    return out


def _batch_size(data_batch: DATA_BATCH) -> Optional[int]:
    """The number of images of a collated batch, if it can be told."""
    if isinstance(data_batch, dict):
        samples = data_batch.get('data_samples')
        if isinstance(samples, Sequence) and not isinstance(samples, str):
            return len(samples)
        inputs = data_batch.get('inputs')
        if isinstance(inputs, (list, tuple)) and inputs:
            first = inputs[0]
            # A list of views (each a batch tensor) or a list of images.
            if isinstance(first, Tensor) and all(
                    isinstance(v, Tensor) and v.dim() == 4 for v in inputs):
                return first.shape[0]
            return len(inputs)
        if isinstance(inputs, Tensor):
            return inputs.shape[0]
    return None


@HOOKS.register_module()
class RepresentationHealthHook(Hook):
    """Log collapse and matching diagnostics every ``interval`` iterations.

    See :mod:`mmalfm.engine.hooks.representation_health` for the model
    protocol (``health_tensors()``, with a fallback on ``model.neck``), the
    scalars and their cost. Use it from a config as::

        custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]

    Args:
        interval (int): Log every ``interval`` training iterations.
            Defaults to 50.
        max_samples (int): Use at most this many embedding rows.
            Defaults to 4096.
        prefix (str): The scalars are ``train/<prefix>/<name>`` in the
            message hub (``<prefix>/<name>`` in the logs). Defaults to
            ``'health'``.
        center_rank (bool): Centre the embeddings before the SVD of
            ``eff_rank``. Defaults to False.
    """

    priority = 'NORMAL'  # before LoggerHook ('BELOW_NORMAL') logs the iter.

    def __init__(self,
                 interval: int = 50,
                 max_samples: int = 4096,
                 prefix: str = 'health',
                 center_rank: bool = False) -> None:
        if not isinstance(interval, int) or interval <= 0:
            raise ValueError(f'interval must be a positive int, got '
                             f'{interval!r}')
        if not isinstance(max_samples, int) or max_samples < 2:
            raise ValueError(f'max_samples must be an int >= 2, got '
                             f'{max_samples!r}')
        self.interval = interval
        self.max_samples = max_samples
        self.prefix = prefix.strip('/')
        self.center_rank = center_rank
        self._handle = None
        self._captured: Optional[Tensor] = None

    @staticmethod
    def _unwrap(model: nn.Module) -> nn.Module:
        return model.module if is_model_wrapper(model) else model

    def _neck_hook(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._captured is not None:
            return  # keep the first call of the iteration
        if isinstance(output, (tuple, list)):
            output = output[0] if len(output) else None
        if isinstance(output, Tensor) and output.dim() >= 1:
            self._captured = output.detach()[:self.max_samples]

    def _remove_neck_hook(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._captured = None

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        self._remove_neck_hook()
        if not self.every_n_train_iters(runner, self.interval):
            return
        neck = getattr(self._unwrap(runner.model), 'neck', None)
        if isinstance(neck, nn.Module):
            self._handle = neck.register_forward_hook(self._neck_hook)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            self._remove_neck_hook()
            return
        try:
            scalars = self.compute(runner, data_batch)
        finally:
            self._remove_neck_hook()
        for name, value in scalars.items():
            runner.message_hub.update_scalar(f'train/{self.prefix}/{name}',
                                             value)

    def compute(self, runner, data_batch: DATA_BATCH = None) -> dict:
        """The scalars of the current iteration (no message-hub update)."""
        model = self._unwrap(runner.model)
        health = None
        if callable(getattr(model, 'health_tensors', None)):
            health = model.health_tensors()
        health = dict(health or {})
        embeddings = health.get('embeddings')
        if embeddings is None:
            embeddings = self._captured
        scalars: Dict[str, float] = {}
        with torch.no_grad():
            if isinstance(embeddings, Tensor):
                scalars.update(
                    embedding_stats(embeddings, self.max_samples,
                                    self.center_rank))
            scalars.update(pair_stats(health, _batch_size(data_batch)))
        scalars['skipped_images'] = LoadImageWithCheck.skipped_count()
        return scalars

    def after_train(self, runner) -> None:
        self._remove_neck_hook()
