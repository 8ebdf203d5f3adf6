# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo: Selective Object COntrastive learning.

Wei et al., *Aligning Pretraining for Detection via Object-Level
Contrastive Learning*, NeurIPS 2021 (released code ``hologerry/SoCo``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import (RegionSetBatch, TransferSpec, ViewGeometry,
                               to_soco_normalized)
from ..utils import (SlotGroups, StepHealth, assign_soco_levels,
                     id_correspondence, scale_aware_slot_ids)
from .base import Feats, RegionBatch, RegionSelfSupervisor

__all__ = ['SoCo']


@MODELS.register_module()
class SoCo(RegionSelfSupervisor):
    """SoCo (FPN, SoCo* and C4 variants).

    For every directed view pair ``(a, b)`` of the region sampler
    (``SoCoRegionSampler(pairs=...)``; the model reads the pairs from the
    :class:`~mmalfm.structures.RegionBatch`) there is an a-side set (the V1
    copy of the boxes, jittered) and a b-side set. Per set the boxes
    are RoI-pooled from that view's feature maps, embedded (online: 4conv1fc
    head -> projector -> predictor; target: EMA head -> projector) and
    L2-normalised by the loss; the loss is
    ``sum_pairs L(q_a, z_b, C) + L(q_b, z_a, C^T)`` with
    ``CorrespondenceBYOLLoss``:

    * **scale-aware (FPN, faithful)**: every box is pooled at *all* levels
      (P2-P5: ``4 * L`` slots per set, level-major) and goes through the
      head; each box is assigned its level by its view-pixel size
      (``level_thresholds`` = released ``aware_range``), and ``C[u, v]`` =
      slot ``u`` of ``a`` and slot ``v`` of ``b`` hold the same
      (non-negative) id (``scale_aware_slot_ids`` + ``id_correspondence``).
      The released ``SoCo_FPN.forward`` runs head -> projector -> predictor
      once per level and per set, so its BatchNorm layers normalise the
      ``N * L`` boxes of one level of one set. ``bn_groups='level'`` gives
      exactly those statistics (and running-statistics updates, level by
      level) inside one batched call per set (``grouped_bn_stats``);
      ``bn_groups='set'`` normalises all ``4 * L`` slots of a set together.
    * **assigned_level_only=True** (fast): each box is pooled at its level
      only (``L`` RoIs per set: 4x cheaper in the head). The positive pairs
      are the same but BN statistics differ (ablation, not faithful;
      ``bn_groups='set'``).
    * **C4** (``scale_aware=False`` with one ``roi_pool`` level): one RoI
      per box, ``C`` = plain id equality ``L x L``.

    One ``CorrespondenceBYOLLoss`` per directed pair, logged as
    ``loss_<a+1>to<b+1>`` (1-based view numbers as in the paper). The
    sampler's pairs are ``((0, 1), (0, 2))`` for SoCo FPN, ``((0, 1), (0,
    2), (0, 3))`` for SoCo* and ``((0, 1),)`` for C4; both networks encode
    the views of the pairs.

    Args:
        scale_aware (bool): Assign levels by box size (FPN); False for a
            single pooling level (C4).
        level_thresholds (Sequence[float]): Released ``aware_range`` upper
            bounds of P2..P5 in view pixels (``sqrt(w*h) <= t``).
        assigned_level_only (bool): Pool each box at its level only.
        bn_groups (str, optional): BatchNorm statistics of the RoI head,
            projector and predictor: ``'level'`` per level of a set
            (released), ``'set'`` over all slots of a set. Defaults to None:
            ``'level'``, or ``'set'`` with ``assigned_level_only``.
        released_box_convention (bool): Pool SoCo's inclusive boxes (x2/y2
            one source pixel smaller, as the released normalised boxes)
            mapped to each level by ``feature size / view size`` (released;
            a 112-px view has a 4x4 P5); False pools our continuous boxes
            at ``1 / stride``.
        **kwargs: :class:`RegionSelfSupervisor` arguments.
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='soco',
        neck='fpn',
        box_head=True,
        default='backbone+fpn+bbox_head (FPN) | backbone+res5 (C4)',
        drops=dict(projector='projector MLP', predictor='predictor MLP'),
        export_flags=('--with-neck', '--with-head'))

    def __init__(self,
                 *args,
                 scale_aware: bool = True,
                 level_thresholds: Sequence[float] = (48, 96, 192, 224),
                 assigned_level_only: bool = False,
                 bn_groups: Optional[str] = None,
                 released_box_convention: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.roi_pool is None or self.roi_head is None or \
                self.loss_module is None or self.target_net is None:
            raise ValueError('SoCo needs roi_pool, roi_head, loss and '
                             'target_ema')
        self.num_levels = len(self.roi_pool.featmap_strides)
        self.scale_aware = scale_aware
        self.level_thresholds = tuple(level_thresholds)
        if scale_aware and len(self.level_thresholds) != self.num_levels:
            raise ValueError(
                f'SoCo: {len(self.level_thresholds)} level_thresholds '
                f'{self.level_thresholds} but roi_pool has '
                f'{self.num_levels} featmap_strides '
                f'{tuple(self.roi_pool.featmap_strides)}')
        if not scale_aware and self.num_levels != 1:
            raise ValueError('SoCo(scale_aware=False) pools one level (C4); '
                             f'roi_pool has {self.num_levels}')
        self.assigned_level_only = assigned_level_only
        if bn_groups is None:
            bn_groups = 'set' if assigned_level_only else 'level'
        if bn_groups not in ('level', 'set'):
            raise ValueError(f"SoCo: bn_groups must be 'level' or 'set', got "
                             f'{bn_groups!r}')
        if bn_groups == 'level' and assigned_level_only and \
                self.num_levels > 1:
            raise ValueError(
                "SoCo: bn_groups='level' normalises each level's slots of a "
                'set, which needs every box pooled at every level; with '
                "assigned_level_only=True set bn_groups='set'")
        self.bn_groups = bn_groups
        self.released_box_convention = released_box_convention

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The views of the sampler's pairs (raises without pairs)."""
        batch.require_pairs('SoCo', 'SoCoRegionSampler')
        return batch.pair_views

    def target_views(self, batch: RegionBatch) -> List[int]:
        return batch.pair_views

    # ---------------------------------------------------------------- sets
    def _levels(self, rb: RegionSetBatch, geom: ViewGeometry) -> Tensor:
        """``[N, M]`` level of each box (``-1``: none)."""
        if not self.scale_aware:
            return torch.zeros_like(rb.ids)
        return assign_soco_levels(rb.boxes, geom, self.level_thresholds)

    def _embed_set(self, rb: RegionSetBatch, batch: RegionBatch,
                   online: Dict[int, Feats], target: Dict[int, Feats]
                   ) -> Tuple[Tensor, Tensor, Tensor]:
        """Online ``q`` and target ``z`` ``[N, R, D]`` and slot ids
        ``[N, R]`` of one region set."""
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
        q = self.embed_rois(
            self.pool_regions(online[rb.view], boxes, pool_levels, shape),
            groups=groups)
        with torch.no_grad():
            z = self.embed_rois(
                self.pool_regions(target[rb.view], boxes, pool_levels, shape),
                target=True,
                groups=groups)
        return q, z, slots

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        losses: Dict[str, Tensor] = {}
        health = StepHealth()
        for sa, sb in batch.pairs:
            ra, rb = batch.sets[sa], batch.sets[sb]
            q_a, z_a, slots_a = self._embed_set(ra, batch, online, target)
            q_b, z_b, slots_b = self._embed_set(rb, batch, online, target)
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
