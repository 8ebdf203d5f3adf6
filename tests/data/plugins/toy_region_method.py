# Copyright (c) mmalfm contributors. All rights reserved.
"""A fifth region-level method, added the way a user adds one: this file.

Nothing under ``mmalfm/`` or ``tools/`` names it. A config imports it with
``custom_imports`` (``tests/data/plugins/toy_region_method_tiny.py``) and then
``tools/train.py``, the exporter (with ``--check``), the view browser, the
benchmark and the demo runner work on it (``tests/test_plugin_method.py``;
``docs/advanced_guides/add_a_method.md`` walks through it).

The method ("ToyRegion"): the overlap of two random crops is cut into a
2 x 2 grid of cells (the region sampler); every cell is RoI-pooled from
the last backbone stage of both views and embedded by a small MLP head,
online and EMA target; the head's loss pulls each online cell embedding
towards the target embedding of the same cell in the other view
(``2 - 2 cos``, symmetrised).
"""
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from mmalfm.datasets.transforms.regions import BaseRegionSampler
from mmalfm.models.algorithms.base import Feats, RegionSelfSupervisor
from mmalfm.models.utils import StepHealth
from mmalfm.registry import MODELS, TASK_UTILS
from mmalfm.structures import (RegionBatch, Regions, RegionSet, TransferSpec,
                               ViewGeometry, crop_intersection)

__all__ = ['ToyOverlapSampler', 'ToyCosineLoss', 'ToyRegionHead',
           'ToyRegion']


@TASK_UTILS.register_module()
class ToyOverlapSampler(BaseRegionSampler):
    """Cells of the two views' overlap: ``grid x grid`` boxes, ids
    ``0..grid**2-1`` in both sets, ``pairs = [(0, 1)]``.

    Without overlap it asks for new crops (None); on the last attempt it
    returns two empty sets and ``no_overlap=True``.

    Args:
        grid (int): Cells per side of the overlap.
    """

    def __init__(self, grid: int = 2) -> None:
        if grid < 1:
            raise ValueError(f'ToyOverlapSampler: grid must be >= 1, got '
                             f'{grid}')
        self.grid = int(grid)

    def sample(self, geometry: ViewGeometry, img_shape: Tuple[int, int],
               rng: np.random.Generator, proposals: Optional[np.ndarray],
               attempt: int, last_attempt: bool) -> Optional[Regions]:
        rect, valid = crop_intersection(geometry[0], geometry[1])
        if not bool(valid):
            if not last_attempt:
                return None
            empty = [RegionSet(k, np.zeros(0), np.zeros((0, 4)))
                     for k in (0, 1)]
            return Regions(empty, [(0, 1)], no_overlap=True)
        x1, y1, x2, y2 = rect.tolist()
        steps = np.arange(self.grid + 1) / self.grid
        xs, ys = x1 + steps * (x2 - x1), y1 + steps * (y2 - y1)
        boxes = np.array([[xs[c], ys[r], xs[c + 1], ys[r + 1]]
                          for r in range(self.grid)
                          for c in range(self.grid)])
        ids = np.arange(len(boxes))
        return Regions([RegionSet(0, ids, boxes),
                        RegionSet(1, ids, boxes)], [(0, 1)],
                       no_overlap=False)


@MODELS.register_module()
class ToyCosineLoss(nn.Module):
    """``loss_weight * mean(2 - 2 cos(q_i, z_i))`` over the valid rows.

    Args:
        loss_weight (float): Scale of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, q: Tensor, z: Tensor, valid: Tensor) -> Tensor:
        """``q``, ``z``: ``[R, D]``; ``valid``: ``[R]`` bool."""
        cos = F.cosine_similarity(q, z, dim=-1)
        terms = (2 - 2 * cos) * valid
        return self.loss_weight * terms.sum() / valid.sum().clamp(min=1)


@MODELS.register_module()
class ToyRegionHead(BaseModule):
    """RoI features -> embedding (mean over the RoI, then an MLP); owns its
    loss, as MMPretrain's heads do.

    Args:
        in_channels (int): Channels of the pooled RoIs.
        out_channels (int): Embedding size.
        loss (dict): The loss config.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 loss: dict = dict(type='ToyCosineLoss')) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, out_channels), nn.ReLU(inplace=True),
            nn.Linear(out_channels, out_channels))
        self.loss_module = MODELS.build(loss)

    def forward(self, rois: Tensor) -> Tensor:
        """``[N, M, C, S, S]`` -> ``[N, M, D]``."""
        return self.mlp(rois.mean(dim=(-2, -1)))

    def loss(self, online: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """The loss of ``[N, M, D]`` online vs target rows, ``[N, M]``
        valid mask."""
        return self.loss_module(
            online.flatten(0, 1), target.flatten(0, 1), valid.flatten())


@MODELS.register_module()
class ToyRegion(RegionSelfSupervisor):
    """The toy region method (see the module docstring).

    Args:
        toy_head (dict): The ``ToyRegionHead`` config.
        **kwargs: :class:`RegionSelfSupervisor` arguments (``backbone``,
            ``roi_pool``, ``target_ema``, ...).
    """

    transfer = TransferSpec(
        name='toyregion', drops=dict(toy_head='toy region head'))
    target_modules = ('backbone', 'toy_head')

    def __init__(self, toy_head: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.toy_head = MODELS.build(toy_head)
        self.build_target()  # the target copies the head too

    def _embed(self, feats: Dict[int, Feats], view: int, boxes: Tensor,
               target: bool) -> Tensor:
        head = self.target.toy_head if target else self.toy_head
        return head(self.pool_regions(feats[view], boxes))

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        a, b = batch.only_pair('ToyRegion', 'ToyOverlapSampler')
        valid = (a.ids >= 0) & (a.ids == b.ids)
        q_a = self._embed(online, a.view, a.boxes, False)
        q_b = self._embed(online, b.view, b.boxes, False)
        z_a = self._embed(target, a.view, a.boxes, True)
        z_b = self._embed(target, b.view, b.boxes, True)
        loss = self.toy_head.loss(q_a, z_b, valid) + \
            self.toy_head.loss(q_b, z_a, valid)
        health = StepHealth(embeddings=q_a[valid], pos_pairs=valid)
        return dict(loss_toy=loss), health

