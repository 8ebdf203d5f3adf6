# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR: Deeply Unsupervised Patch Re-identification.

Ding, Xie et al., *Deeply Unsupervised Patch Re-Identification for
Pre-Training Object Detectors*, TPAMI 2024 (arXiv 2103.04814). There is no
public code and only the abstract is known; everything else is our
reconstruction, and every reconstructed choice is an argument of
:class:`DUPR` (see ``configs/dupr/README.md``).
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import get_world_size
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from mmalfm.registry import MODELS
from mmalfm.structures import RegionSetBatch, TransferSpec
from ..utils import (FeatureQueue, MultiLevelRoIPool, StepHealth,
                     gather_valid_rows, same_image_gallery)
from ..utils.feature_levels import backbone_out_indices, resolve_levels
from .base import Feats, RegionBatch, RegionSelfSupervisor, _build

__all__ = ['DUPR']


@MODELS.register_module()
class DUPR(RegionSelfSupervisor):
    r"""DUPR: MoCo v2 + patch re-identification at several levels.

    One step, views ``V1``, ``V2`` (``MultiViewCrop`` with
    ``DUPRGridSampler``: the same ``S x S`` cells of the views' overlap in
    both, ids ``0..S²-1``; an image whose views never overlapped enough has
    two empty sets)::

        global: q = global_neck(C5(V1)), k = EMA global_neck(C5(V2))
                loss_global = global_head(q, k)     (MoCo v2, queue, T=0.2)
        per level l (C3, C4, C5 or P3, P4, P5), per direction (a, b) in
        ((V1, V2), (V2, V1)):
                q_i = patch_necks[l](RoIAlign(F_l(a), b_i^a))   online
                k_i = EMA patch_necks[l](RoIAlign(F_l(b), b_i^b))
                L = InfoNCE(q_i, k_i, {k_j: j != i, same image} ∪ Queue_l)
        loss_reid_<l> = reid_weight * level_weights[l] * mean of directions

    then the ``V2`` keys of each level are enqueued in that level's queue.
    ``patch_necks`` are MMPretrain ``NonLinearNeck``\ s with
    ``with_avg_pool=True`` (the global average over the 7x7 RoI bins, then
    ``C_l -> hid -> out`` with BN+ReLU in the hidden layer). Momentum target
    = EMA of ``backbone``, ``neck``, ``global_neck`` and ``patch_necks``
    (constant ``ExponentialMovingAverage(momentum=0.001)`` = keep-rate
    0.999 in MMEngine's update-rate convention).

    Cells that take part in the loss of level ``l`` (``[N, M]`` mask): id
    ``>= 0`` (not padding, image had an overlap), and, if set, among the
    ``num_important`` cells of highest target C5 energy, and at least
    ``min_cell_strides`` strides of level ``l`` wide and high in both
    views. Masked cells are neither queries nor gallery negatives nor
    enqueued. Images without any cell contribute only ``loss_global`` and
    are counted in ``num_no_overlap`` (logged, not a loss).

    Args:
        backbone (dict): e.g. ``mmdet.ResNet`` (``out_indices`` must hold
            every level of ``levels`` when there is no neck; the **last**
            output feeds the global branch).
        global_neck (dict): Global MLP, e.g. ``MoCoV2Neck(2048, 2048, 128,
            with_avg_pool=True)``.
        global_head (dict): ``MoCoQueueHead`` (queue, T, loss weight).
        patch_neck (dict): Per-level MLP template without ``in_channels``
            (filled per level), e.g. ``NonLinearNeck(hid_channels=2048,
            out_channels=128, with_avg_pool=True, ...)``.
        loss (dict): Patch loss, ``InfoNCELoss(temperature=0.2)``.
        neck (dict, optional): ``mmdet.FPN`` (FPN variant); then ``levels``
            index the neck's outputs (P2 = 0 with ``start_level=0``).
        levels (Sequence[int]): Backbone stage indices (``0`` = C2, ...,
            ``3`` = C5) or, with a neck, neck output indices. Defaults to
            ``(1, 2, 3)`` (C3-C5 / P3-P5).
        level_names (Sequence[str], optional): Log names (``loss_reid_<n>``)
            per level. Defaults to ``c<i+2>`` / ``p<j+start_level+2>``.
        level_channels (Sequence[int], optional): Channels per level.
            Defaults to inferred from the backbone (ResNet ``base_channels
            * 2**i * expansion``) or the neck's ``out_channels``.
        level_strides (Sequence[int], optional): Stride per level. Defaults
            to ``2**(i+2)`` (ResNet stage ``i``; FPN output ``j`` of
            ``start_level`` s: ``2**(j+s+2)``).
        level_weights (Sequence[float], optional): ``w_l``. Defaults to 1.
        reid_weight (float): ``λ`` of the patch terms. Defaults to 1.
        patch_queue_len (int): Queue length per level. Defaults to 16384.
        gather_keys (bool): All-gather the patch keys before enqueueing.
        num_important (int, optional): Keep only the top-N cells by target
            C5 energy (mean squared activation of the cell's RoIAlign of
            the last backbone output, summed over both views). None: all.
        min_cell_strides (float): Mask a cell at level ``l`` if it is
            narrower or lower than ``min_cell_strides * stride_l`` view
            pixels in either view. ``0`` (default): off.
        roi_pool (dict, optional): ``MultiLevelRoIPool`` arguments other
            than ``featmap_strides`` (``output_size`` 7, ``sampling_ratio``
            0, ``aligned`` True); one pool per level.
        target_ema (dict): EMA config. Defaults to constant 0.999.
        batch_views (bool): Forward both views in one batch. Defaults to
            False (each view its own BN batch, like MoCo's two encoders).
        **kwargs: Other :class:`RegionSelfSupervisor` arguments.
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='dupr',
        neck='fpn',
        default='backbone (+FPN for the FPN variant)',
        drops=dict(
            global_neck='global MLP neck',
            global_head='global contrastive head (queue)',
            patch_necks='patch-level MLP heads',
            patch_queues='patch-level negative queues'))

    target_modules = ('backbone', 'neck', 'global_neck', 'patch_necks')

    def __init__(self,
                 backbone: dict,
                 global_neck: dict,
                 global_head: dict,
                 patch_neck: dict,
                 loss: dict = dict(type='InfoNCELoss', temperature=0.2),
                 neck: Optional[dict] = None,
                 levels: Sequence[int] = (1, 2, 3),
                 level_names: Optional[Sequence[str]] = None,
                 level_channels: Optional[Sequence[int]] = None,
                 level_strides: Optional[Sequence[int]] = None,
                 level_weights: Optional[Sequence[float]] = None,
                 reid_weight: float = 1.0,
                 patch_queue_len: int = 16384,
                 gather_keys: bool = True,
                 num_important: Optional[int] = None,
                 min_cell_strides: float = 0.,
                 roi_pool: Optional[dict] = None,
                 target_ema: Optional[dict] = dict(
                     type='ExponentialMovingAverage', momentum=0.001),
                 batch_views: bool = False,
                 **kwargs) -> None:
        if target_ema is None:
            raise ValueError('DUPR needs a momentum encoder: model.target_ema'
                             ' must not be None')
        for key in ('roi_head', 'projector', 'predictor'):
            if kwargs.get(key) is not None:
                raise ValueError(f'DUPR has no {key}: remove model.{key}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            loss=loss,
            target_ema=None,  # built below, once every module exists
            batch_views=batch_views,
            **kwargs)
        lv = resolve_levels(self.backbone, self.neck, levels, level_names,
                            level_channels, level_strides, level_weights)
        self.levels, self.level_names = lv.levels, lv.names
        self.level_channels, self.level_strides = lv.channels, lv.strides
        self.level_weights = lv.weights
        if 'in_channels' in patch_neck:
            raise ValueError('model.patch_neck is a template: drop its '
                             'in_channels (set per level from '
                             'model.level_channels)')
        roi_pool = dict(roi_pool or {})
        if 'featmap_strides' in roi_pool:
            raise ValueError('model.roi_pool.featmap_strides is not used by '
                             'DUPR: set model.level_strides')
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.global_neck = _build(global_neck)
            self.global_head = _build(global_head)
            self.patch_necks = nn.ModuleList(
                _build(dict(copy.deepcopy(patch_neck), in_channels=c))
                for c in self.level_channels)
        self.patch_pools = nn.ModuleList(
            MultiLevelRoIPool(**roi_pool, featmap_strides=(s, ))
            for s in self.level_strides)
        out_dim = int(patch_neck.get('out_channels', 128))
        self.patch_queues = nn.ModuleList(
            FeatureQueue(out_dim, patch_queue_len) for _ in self.levels)
        self.reid_weight = float(reid_weight)
        self.gather_keys = gather_keys
        if num_important is not None and num_important < 1:
            raise ValueError(f'model.num_important must be >= 1 or None, got'
                             f' {num_important}')
        self.num_important = num_important
        if min_cell_strides < 0:
            raise ValueError('model.min_cell_strides must be >= 0, got '
                             f'{min_cell_strides}')
        self.min_cell_strides = float(min_cell_strides)
        # C5 energy of "important patches": RoIAlign of the last backbone
        # output (stride of the last ResNet stage)
        self.energy_pool = MultiLevelRoIPool(
            **roi_pool,
            featmap_strides=(2**(self._backbone_indices()[-1] + 2), ))
        self.target_ema = target_ema
        self.build_target()

    def _backbone_indices(self) -> Tuple[int, ...]:
        return backbone_out_indices(self.backbone)

    # ---------------------------------------------------------- features
    def encode(self, x: Tensor, target: bool = False) -> Feats:
        """Backbone outputs, then the neck's outputs (if any)."""
        net = self.target if target else self
        feats = tuple(net.backbone(x))
        neck = getattr(net, 'neck', None)
        if neck is not None:
            feats = feats + tuple(neck(feats))
        return feats

    def _level_map(self, feats: Feats, j: int) -> Tensor:
        """Feature map of level ``j`` (index into ``self.levels``)."""
        num_bb = len(self._backbone_indices())
        lv = self.levels[j]
        if self.with_neck:
            return feats[num_bb + lv]
        return feats[self._backbone_indices().index(lv)]

    def _global_map(self, feats: Feats) -> Tensor:
        return feats[len(self._backbone_indices()) - 1]

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The two views of ``DUPRGridSampler``'s pair."""
        return [rb.view for rb in self._cell_sets(batch)]

    def target_views(self, batch: RegionBatch) -> List[int]:
        return self.online_views(batch)

    @staticmethod
    def _cell_sets(batch: RegionBatch) -> List[RegionSetBatch]:
        """The two cell sets (same cells, same order) of the pair."""
        return list(batch.only_pair('DUPR', 'DUPRGridSampler'))

    # ------------------------------------------------------------ masks
    @torch.no_grad()
    def important_mask(self, target: Dict[int, Feats],
                       regions: List[RegionSetBatch],
                       valid: Tensor) -> Tensor:
        """``[N, M]`` top-``num_important`` valid cells by target C5
        energy (mean squared activation in the cell's RoI, summed over the
        two views); all valid cells if ``num_important`` is None."""
        if self.num_important is None or valid.shape[1] == 0:
            return valid
        energy = 0
        for rb in regions:
            rois = self.energy_pool([self._global_map(target[rb.view])],
                                    rb.boxes)
            energy = energy + rois.float().pow(2).mean(dim=(2, 3, 4))
        energy = energy.masked_fill(~valid, float('-inf'))
        k = min(self.num_important, valid.shape[1])
        top = energy.topk(k, dim=1).indices
        keep = torch.zeros_like(valid).scatter_(1, top, True)
        return keep & valid

    def size_mask(self, regions: List[RegionSetBatch], j: int) -> Tensor:
        """``[N, M]`` cells at least ``min_cell_strides`` strides of level
        ``j`` wide and high in both views (all True when off)."""
        ok = torch.ones_like(regions[0].ids, dtype=torch.bool)
        if self.min_cell_strides <= 0:
            return ok
        side = self.min_cell_strides * self.level_strides[j]
        for rb in regions:
            wh = rb.boxes[..., 2:] - rb.boxes[..., :2]
            ok &= (wh.abs() >= side).all(dim=-1)
        return ok

    # ------------------------------------------------------------ losses
    def embed_cells(self, feats: Feats, rb: RegionSetBatch, j: int,
                    valid: Tensor, target: bool = False
                    ) -> Optional[Tensor]:
        """``[N, M, D]`` L2-normalised embeddings of the cells at level
        ``j`` (zeros at invalid cells).

        Only the valid cells go through the MLP, so padding never enters
        its BN statistics. In a single process fewer than two valid cells
        give None (BN needs two rows); under DDP the MLP always runs, so
        that every rank joins SyncBN's collectives (SyncBN accepts an empty
        local batch).
        """
        n, m = valid.shape
        if int(valid.sum()) < 2 and get_world_size() == 1:
            return None
        net = self.target if target else self
        rois = self.patch_pools[j]([self._level_map(feats, j)], rb.boxes)
        x = net.patch_necks[j]((rois.flatten(0, 1)[valid.flatten()], ))[0]
        x = F.normalize(x.float(), dim=1)
        out = x.new_zeros(n * m, x.shape[1])
        out[valid.flatten()] = x
        return out.view(n, m, -1)

    def reid_nce(self, q: Tensor, k: Tensor, valid: Tensor,
                 queue: Tensor) -> Tensor:
        """Patch Re-ID InfoNCE of one direction and level.

        Args:
            q (Tensor): ``[N, M, D]`` queries (cells of view a).
            k (Tensor): ``[N, M, D]`` keys (same cells, view b); cell ``i``
                of image ``n`` is the positive of query ``(n, i)``.
            valid (Tensor): ``[N, M]`` bool cells that take part.
            queue (Tensor): ``[L, D]`` queue negatives.

        Returns:
            Tensor: mean over valid queries of ``CE([q.k_i, q.k_{j != i,
            valid, same image}, q.queue] / T, 0)``.
        """
        gallery, gallery_mask = same_image_gallery(k, valid)
        return self.loss_module(
            q.flatten(0, 1),
            k.flatten(0, 1), [gallery, queue],
            valid=valid.flatten(),
            negative_mask=[gallery_mask, None])

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        regions = self._cell_sets(batch)
        v1, v2 = (rb.view for rb in regions)
        q_glob = self.global_neck((self._global_map(online[v1]), ))[0]
        with torch.no_grad():
            k_glob = self.target.global_neck(
                (self._global_map(target[v2]), ))[0]
        losses = {'loss_global': self.global_head(q_glob, k_glob)}
        health = {'global': F.normalize(q_glob.detach(), dim=1)}

        cells = regions[0].ids >= 0  # [N, M]
        base_valid = self.important_mask(target, regions, cells)
        to_enqueue = []
        for j, name in enumerate(self.level_names):
            valid = base_valid & self.size_mask(regions, j)
            q = [self.embed_cells(online[rb.view], rb, j, cells)
                 for rb in regions]
            with torch.no_grad():
                k = [self.embed_cells(target[rb.view], rb, j, cells, True)
                     for rb in regions]
            weight = self.reid_weight * self.level_weights[j]
            if q[0] is None or not bool(valid.any()):
                # keep every patch-MLP parameter in the graph (DDP)
                loss = sum(p.sum() for p in self.patch_necks[j].parameters())
                losses[f'loss_reid_{name}'] = loss * 0.
                to_enqueue.append((j, None, valid))
                continue
            queue = self.patch_queues[j]()
            loss = 0.5 * (self.reid_nce(q[0], k[1], valid, queue) +
                          self.reid_nce(q[1], k[0], valid, queue))
            losses[f'loss_reid_{name}'] = weight * loss
            to_enqueue.append((j, k[1], valid))
            health[f'reid_{name}'] = q[0][valid].detach()
        # after every loss of the step: enqueue the valid V2 keys per level
        for j, keys, valid in to_enqueue:
            queue = self.patch_queues[j]
            if keys is None:
                keys = valid.new_zeros((0, queue.dim), dtype=torch.float)
                valid = valid.new_zeros(0)
            queue.enqueue(
                gather_valid_rows(keys.flatten(0, -2), valid.flatten(),
                                  self.gather_keys),
                gather=False)
        num_cells = cells.sum(dim=1)
        losses['num_no_overlap'] = (num_cells == 0).sum().float()
        return losses, StepHealth(branches=health, pos_pairs=num_cells)
