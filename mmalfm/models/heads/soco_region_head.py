# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo's region head: scale-aware RoI embeddings and the BYOL loss per
view pair (Wei et al., *Aligning Pretraining for Detection via
Object-Level Contrastive Learning*, NeurIPS 2021)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import (RegionBatch, RegionSetBatch, ViewGeometry,
                               to_soco_normalized)
from ..utils import (SlotGroups, StepHealth, assign_soco_levels,
                     id_correspondence, scale_aware_slot_ids)
from .region_head import BaseRegionHead, HeadInputs

__all__ = ['SoCoRegionHead']


@MODELS.register_module()
class SoCoRegionHead(BaseRegionHead):
    """SoCo's region term over the sampler's view pairs.

    For every directed pair ``(a, b)`` of ``SoCoRegionSampler(pairs=...)``
    (read from the :class:`~mmalfm.structures.RegionBatch`) the a-side and
    b-side box sets are RoI-pooled from their views and embedded by
    ``embedding`` (online: RoI head -> projector -> predictor; target: EMA
    RoI head -> projector); the loss is ``sum_pairs L(q_a, z_b, C) +
    L(q_b, z_a, C^T)`` (``CorrespondenceBYOLLoss``), logged as
    ``loss_<a+1>to<b+1>`` (1-based views, as in the paper):

    * **scale-aware (FPN, faithful)**: every box is pooled at *all* levels
      (``P * M`` slots per set, level-major) and goes through the head;
      each box is assigned its level by its view-pixel size
      (``level_thresholds`` = released ``aware_range``), and ``C[u, v]`` =
      slot ``u`` of ``a`` and slot ``v`` of ``b`` hold the same id. The
      released code runs the head once per level and per set, so its BN
      layers normalise the ``N * M`` boxes of one level of one set:
      ``bn_groups='level'`` gives exactly those statistics in one batched
      call per set; ``'set'`` normalises all slots of a set together.
    * **assigned_level_only=True** (fast): each box is pooled at its level
      only. Same positives, other BN statistics (ablation; ``'set'``).
    * **C4** (``scale_aware=False``, one pool level): one RoI per box,
      ``C`` = plain id equality.

    Args:
        embedding (dict): ``RoIEmbedding`` (``roi_pool``, ``projector``,
            ``predictor``).
        loss (dict): ``CorrespondenceBYOLLoss``.
        scale_aware (bool): Assign levels by box size (FPN); False for a
            single pooling level (C4).
        level_thresholds (Sequence[float]): Released ``aware_range`` upper
            bounds of each level in view pixels (``sqrt(w*h) <= t``).
        assigned_level_only (bool): Pool each box at its level only.
        bn_groups (str, optional): BN statistics of the RoI head, projector
            and predictor: ``'level'`` (released) or ``'set'``; None:
            ``'level'``, or ``'set'`` with ``assigned_level_only``.
        released_box_convention (bool): Pool SoCo's inclusive boxes mapped
            to each level by ``feature size / view size`` (released); False
            pools our continuous boxes at ``1 / stride``.
        init_cfg (dict, optional): Initialisation config.
    """

    target_parts = ('embedding.projector', )

    def __init__(self,
                 embedding: dict,
                 loss: dict = dict(type='CorrespondenceBYOLLoss', eps=1e-6),
                 scale_aware: bool = True,
                 level_thresholds: Sequence[float] = (48, 96, 192, 224),
                 assigned_level_only: bool = False,
                 bn_groups: Optional[str] = None,
                 released_box_convention: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.embedding = MODELS.build(embedding)
            self.loss_module = MODELS.build(loss)
        self.num_levels = self.embedding.num_levels
        self.scale_aware = scale_aware
        self.level_thresholds = tuple(level_thresholds)
        self.assigned_level_only = assigned_level_only
        self.bn_groups = self._check(bn_groups)
        self.released_box_convention = released_box_convention

    def _check(self, bn_groups: Optional[str]) -> str:
        """Check the options against the pool; return ``bn_groups``."""
        levels = self.num_levels
        if self.scale_aware and len(self.level_thresholds) != levels:
            raise ValueError(
                f'SoCoRegionHead: {len(self.level_thresholds)} '
                f'level_thresholds {self.level_thresholds} but '
                f'embedding.roi_pool has {levels} featmap_strides')
        if not self.scale_aware and levels != 1:
            raise ValueError('SoCoRegionHead(scale_aware=False) pools one '
                             f'level (C4); embedding.roi_pool has {levels}')
        if bn_groups is None:
            bn_groups = 'set' if self.assigned_level_only else 'level'
        if bn_groups not in ('level', 'set'):
            raise ValueError("SoCoRegionHead: bn_groups must be 'level' or "
                             f"'set', got {bn_groups!r}")
        if bn_groups == 'level' and self.assigned_level_only and levels > 1:
            raise ValueError(
                "SoCoRegionHead: bn_groups='level' normalises each level's "
                'slots of a set, which needs every box pooled at every '
                "level; with assigned_level_only=True set bn_groups='set'")
        return bn_groups

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The views of the sampler's pairs (raises without pairs)."""
        batch.require_pairs('SoCo', 'SoCoRegionSampler')
        return batch.pair_views

    def target_views(self, batch: RegionBatch) -> List[int]:
        return batch.pair_views

    def _levels(self, rb: RegionSetBatch, geom: ViewGeometry) -> Tensor:
        """``[N, M]`` level of each box (``-1``: none)."""
        if not self.scale_aware:
            return torch.zeros_like(rb.ids)
        return assign_soco_levels(rb.boxes, geom, self.level_thresholds)

    def _embed_set(self, rb: RegionSetBatch,
                   inputs: HeadInputs) -> Tuple[Tensor, Tensor, Tensor]:
        """Online ``q`` and target ``z`` ``[N, R, D]`` and slot ids
        ``[N, R]`` of one region set."""
        batch = inputs.batch
        geom = batch.geometry[:, rb.view]
        levels = self._levels(rb, geom)
        boxes = rb.boxes
        if self.released_box_convention:
            size = geom.out_size.to(boxes)[:, None, [0, 1, 0, 1]]
            boxes = to_soco_normalized(boxes, geom) * size
        if self.assigned_level_only:
            # a box beyond the last threshold is pooled at the top level but
            # matches nothing (as in the released code, where it has no slot)
            pool_levels = levels.clamp(min=0)
            slots = torch.where(levels >= 0, rb.ids, rb.ids.new_full((), -1))
        else:
            pool_levels = None
            slots = scale_aware_slot_ids(rb.ids, levels, self.num_levels, -1)
        # released mapping: normalised box x feature size (not 1 / stride)
        shape = batch.view_shapes[rb.view] \
            if self.released_box_convention else None
        groups = None
        if self.bn_groups == 'level' and not self.assigned_level_only:
            groups = SlotGroups.blocks(self.num_levels, boxes.shape[1])
        emb = self.embedding
        q = emb(emb.pool(inputs.online[rb.view], boxes, pool_levels, shape),
                inputs.roi_head, groups)[-1]
        with torch.no_grad():
            z = emb(emb.pool(inputs.target[rb.view], boxes, pool_levels,
                             shape), inputs.target_roi_head, groups,
                    target=inputs.target_parts.embedding)[-1]
        return q, z, slots

    def loss(self, inputs: HeadInputs) -> Tuple[Dict[str, Tensor],
                                                StepHealth]:
        losses: Dict[str, Tensor] = {}
        health = StepHealth()
        batch = inputs.batch
        for sa, sb in batch.pairs:
            ra, rb = batch.sets[sa], batch.sets[sb]
            q_a, z_a, slots_a = self._embed_set(ra, inputs)
            q_b, z_b, slots_b = self._embed_set(rb, inputs)
            corr = id_correspondence(slots_a, slots_b)
            a, b = ra.view + 1, rb.view + 1
            losses[f'loss_{a}to{b}'] = self.loss_module(q_a, z_b, corr)
            losses[f'loss_{b}to{a}'] = self.loss_module(
                q_b, z_a, corr.transpose(1, 2))
            if health.pos_pairs is None:  # the first pair
                health.embeddings = F.normalize(q_a[slots_a >= 0], dim=-1)
                health.pos_pairs = corr.sum(dim=(1, 2))
                health.possible_pairs = corr.new_full(
                    corr.shape[:1], corr[0].numel(), dtype=torch.long)
        return losses, health
