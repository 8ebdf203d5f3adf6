# Copyright (c) mmalfm contributors. All rights reserved.
"""A fifth region-level method, added the way a user adds one: this file.

Nothing under ``mmalfm/`` or ``tools/`` names it. A config imports it with
``custom_imports`` (``tests/data/plugins/toy_region_method_tiny.py``) and then
``tools/train.py``, the exporter (with ``--check``), the view browser, the
benchmark and the demo runner work on it (``tests/test_plugin_method.py``;
``docs/advanced_guides/add_a_method.md`` walks through it).

The method ("ToyRegion"): the overlap of two random crops is cut into a
2 x 2 grid of cells (the region sampler); the head (``model.heads``, a
``BaseRegionHead``) RoI-pools every cell from the last backbone stage of
both views, online and EMA target, and embeds it by its small MLP (the
target by the EMA copy of the MLP); its loss pulls each online cell
embedding towards the target embedding of the same cell in the other view
(``2 - 2 cos``, symmetrised). The algorithm is the trunk (a backbone, no
neck) and the EMA target: it only declares what a detector reuses
(docs/advanced_guides/heads.md).
"""
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from mmalfm.datasets.transforms.regions import BaseRegionSampler
from mmalfm.models.algorithms.base import Feats, RegionSelfSupervisor
from mmalfm.models.heads.region_head import BaseRegionHead, HeadInputs
from mmalfm.models.utils import MultiLevelRoIPool, StepHealth
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
class ToyRegionHead(BaseRegionHead):
    """The toy method's head: RoI pool -> mean over the RoI -> MLP, and its
    loss, as MMPretrain's heads do. The EMA target copies the MLP
    (``target_parts``); the pool has no weights.

    Logged keys: ``loss_toy``.

    Args:
        roi_pool (dict): :class:`~mmalfm.models.utils.MultiLevelRoIPool`
            arguments (``output_size``, ``featmap_strides``); it pools the
            first ``len(featmap_strides)`` maps.
        in_channels (int): Channels of the pooled RoIs.
        out_channels (int): Embedding size.
        loss (dict): The loss config.
        init_cfg (dict, optional): Initialisation config.
    """

    target_parts = ('mlp', )

    def __init__(self,
                 roi_pool: dict,
                 in_channels: int,
                 out_channels: int,
                 loss: dict = dict(type='ToyCosineLoss'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.roi_pool = MultiLevelRoIPool(**roi_pool)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, out_channels), nn.ReLU(inplace=True),
            nn.Linear(out_channels, out_channels))
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.loss_module = MODELS.build(loss)

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The two views of the sampler's pair (raises without it)."""
        a, b = batch.only_pair('ToyRegion', 'ToyOverlapSampler')
        return [a.view, b.view]

    def target_views(self, batch: RegionBatch) -> List[int]:
        return self.online_views(batch)

    def _embed(self, feats: Feats, boxes: Tensor, mlp: nn.Module) -> Tensor:
        """``[N, M, 4]`` view boxes -> ``[N, M, D]``: pool the maps (here
        the last backbone stage), mean over each RoI, ``mlp``."""
        rois = self.roi_pool(tuple(feats[:self.roi_pool.num_levels]), boxes)
        return mlp(rois.mean(dim=(-2, -1)))

    def _loss(self, online: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """The loss of ``[N, M, D]`` online vs target rows, ``[N, M]``
        valid mask."""
        return self.loss_module(
            online.flatten(0, 1), target.flatten(0, 1), valid.flatten())

    def loss(self, inputs: HeadInputs) -> Tuple[Dict[str, Tensor],
                                                StepHealth]:
        a, b = inputs.batch.only_pair('ToyRegion', 'ToyOverlapSampler')
        valid = (a.ids >= 0) & (a.ids == b.ids)
        mlp, target_mlp = self.mlp, inputs.target_parts.mlp
        q_a = self._embed(inputs.online[a.view], a.boxes, mlp)
        q_b = self._embed(inputs.online[b.view], b.boxes, mlp)
        z_a = self._embed(inputs.target[a.view], a.boxes, target_mlp)
        z_b = self._embed(inputs.target[b.view], b.boxes, target_mlp)
        loss = self._loss(q_a, z_b, valid) + self._loss(q_b, z_a, valid)
        health = StepHealth(embeddings=q_a[valid], pos_pairs=valid)
        return dict(loss_toy=loss), health


@MODELS.register_module()
class ToyRegion(RegionSelfSupervisor):
    """The toy region method (see the module docstring): the trunk (a
    backbone, no neck), an EMA target, and the heads of ``model.heads``
    (here a ``ToyRegionHead``). It only declares what a detector reuses.

    Args:
        **kwargs: :class:`RegionSelfSupervisor` arguments (``backbone``,
            ``heads``, ``target_ema``, ...).
    """

    transfer = TransferSpec(
        name='toyregion', drops=dict(heads='toy region head'))
    target_modules = ('backbone', )
