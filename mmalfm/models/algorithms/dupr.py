# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR: Deeply Unsupervised Patch Re-identification.

Ding, Xie et al., *Deeply Unsupervised Patch Re-Identification for
Pre-Training Object Detectors*, TPAMI 2024 (arXiv 2103.04814). There is no
public code and only the abstract is known; everything else is our
reconstruction, and every reconstructed choice is an argument of
:class:`DUPR` (see ``configs/dupr/README.md``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import RegionSetBatch, TransferSpec
from ..losses.reid_nce import symmetric_reid_nce
from ..utils import MultiLevelRoIPool, StepHealth
from ..utils.build import check_parts
from ..utils.cell_embedding import embed_valid_cells
from ..utils.dupr_masks import check_mask_args, important_cells, large_cells
from ..utils.enqueue import enqueue_valid_keys
from ..utils.feature_levels import backbone_out_indices, resolve_levels
from ..utils.patch_levels import build_patch_levels
from .base import Feats, RegionBatch, RegionSelfSupervisor, _build

__all__ = ['DUPR']


@MODELS.register_module()
class DUPR(RegionSelfSupervisor):
    r"""DUPR: MoCo v2 + patch re-identification at several levels.

    A detector needs features that tell the patches of an image apart at
    every level of its pyramid: each cell of two views' overlap is a
    pseudo-identity to re-identify in the other view, at every level of
    ``levels``, next to MoCo v2's global term (``loss_global``).

    Per level and direction ``(a, b)``, the ``[N, M]`` cells of
    ``DUPRGridSampler`` (ids ``0..S²-1``, ``-1`` padding) are RoI-pooled in
    both views and embedded by ``patch_necks[l]`` (online in ``a``, EMA in
    ``b``) to ``[N, M, D]``; :func:`symmetric_reid_nce` scores each query
    against its own cell, the image's other cells and the level's queue
    (``loss_reid_<level name>``). Only the cells of the ``[N, M]`` masks
    (:meth:`important_mask`, :meth:`size_mask`) take part; images without
    a cell count in ``num_no_overlap``. The step, the masks and the
    reconstructed choices: ``docs/advanced_guides/dupr.md``.

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
        level_names (Sequence[str], optional): Log names per level.
        level_channels (Sequence[int], optional): Channels per level.
        level_strides (Sequence[int], optional): Stride per level.
        level_weights (Sequence[float], optional): ``w_l`` per level.
            Defaults: from the backbone or neck (:func:`resolve_levels`);
            weights 1.
        reid_weight (float): ``λ`` of the patch terms. Defaults to 1.
        patch_queue_len (int): Queue length per level. Defaults to 16384.
        gather_keys (bool): All-gather the patch keys before enqueueing.
        num_important (int, optional): Keep the top-N cells by target C5
            energy (:func:`important_cells`). None (default): all.
        min_cell_strides (float): Keep the cells at least this many strides
            of a level wide and high (:func:`large_cells`); 0 (default): off.
        roi_pool (dict, optional): ``MultiLevelRoIPool`` arguments other
            than ``featmap_strides``; one pool per level.
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
        check_parts('DUPR', target_ema, kwargs,
                    ('roi_head', 'projector', 'predictor'))
        super().__init__(
            backbone=backbone,
            neck=neck,
            target_ema=None,  # built below, once every module exists
            batch_views=batch_views,
            **kwargs)
        lv = resolve_levels(self.backbone, self.neck, levels, level_names,
                            level_channels, level_strides, level_weights)
        self.levels, self.level_names = lv.levels, lv.names
        self.level_channels, self.level_strides = lv.channels, lv.strides
        self.level_weights = lv.weights
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.loss_module = _build(loss)
            self.global_neck = _build(global_neck)
            self.global_head = _build(global_head)
        self.patch_necks, self.patch_pools, self.patch_queues = \
            build_patch_levels(patch_neck, roi_pool, self.level_channels,
                               self.level_strides, patch_queue_len)
        self.reid_weight = float(reid_weight)
        self.gather_keys = gather_keys
        check_mask_args(num_important, min_cell_strides)
        self.num_important = num_important
        self.min_cell_strides = float(min_cell_strides)
        # where encode's (stages..., neck outputs...) hold each level and C5
        stages = backbone_out_indices(self.backbone)
        self._map_index = [len(stages) + lv if self.with_neck else
                           stages.index(lv) for lv in self.levels]
        self._c5_index = len(stages) - 1
        # "important patches": RoIAlign of the last backbone output (C5)
        self.energy_pool = MultiLevelRoIPool(
            **(roi_pool or {}), featmap_strides=(2**(stages[-1] + 2), ))
        self.target_ema = target_ema
        self.build_target()

    # ---------------------------------------------------------- features
    def encode(self, x: Tensor, target: bool = False) -> Feats:
        """Backbone outputs, then the neck's outputs (if any)."""
        net = self.target if target else self
        feats = tuple(net.backbone(x))
        neck = getattr(net, 'neck', None)
        if neck is not None:
            feats = feats + tuple(neck(feats))
        return feats

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The two views of ``DUPRGridSampler``'s pair."""
        return [rb.view for rb in self._cell_sets(batch)]

    def target_views(self, batch: RegionBatch) -> List[int]:
        return self.online_views(batch)

    @staticmethod
    def _cell_sets(batch: RegionBatch) -> List[RegionSetBatch]:
        """The two cell sets (same cells, same order) of the pair."""
        return list(batch.only_pair('DUPR', 'DUPRGridSampler'))

    # ------------------------------------------------------------ cells
    def important_mask(self, target: Dict[int, Feats],
                       regions: List[RegionSetBatch], valid: Tensor) -> Tensor:
        """``[N, M]`` top-``num_important`` valid cells by target C5 energy
        summed over the two views (:func:`important_cells`)."""
        return important_cells(
            self.energy_pool,
            [target[rb.view][self._c5_index] for rb in regions],
            [rb.boxes for rb in regions], valid, self.num_important)

    def size_mask(self, regions: List[RegionSetBatch], j: int) -> Tensor:
        """``[N, M]`` cells at least ``min_cell_strides`` strides of level
        ``j`` wide and high in both views (:func:`large_cells`)."""
        return large_cells([rb.boxes for rb in regions],
                           self.min_cell_strides * self.level_strides[j])

    def embed_cells(self, feats: Feats, rb: RegionSetBatch, j: int,
                    valid: Tensor, target: bool = False
                    ) -> Optional[Tensor]:
        """``[N, M, D]`` L2-normalised embeddings of the cells at level
        ``j``, zeros at invalid cells; None for fewer than two valid cells
        in one process (:func:`embed_valid_cells`)."""
        net = self.target if target else self
        return embed_valid_cells(self.patch_pools[j], net.patch_necks[j],
                                 feats[self._map_index[j]], rb.boxes, valid)

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        regions = self._cell_sets(batch)
        v1, v2 = (rb.view for rb in regions)
        q_glob = self.global_neck((online[v1][self._c5_index], ))[0]
        with torch.no_grad():
            k_glob = self.target.global_neck((target[v2][self._c5_index], ))[0]
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
            if q[0] is None or not bool(valid.any()):
                # keep every patch-MLP parameter in the graph (DDP)
                loss = sum(p.sum() for p in self.patch_necks[j].parameters())
                losses[f'loss_reid_{name}'] = loss * 0.
                to_enqueue.append((j, None, valid))
                continue
            weight = self.reid_weight * self.level_weights[j]
            losses[f'loss_reid_{name}'] = weight * symmetric_reid_nce(
                self.loss_module, q, k, valid, self.patch_queues[j]())
            to_enqueue.append((j, k[1], valid))
            health[f'reid_{name}'] = q[0][valid].detach()
        # after every loss of the step: enqueue the valid V2 keys per level
        for j, keys, valid in to_enqueue:
            enqueue_valid_keys(self.patch_queues[j], keys, valid,
                               self.gather_keys)
        num_cells = cells.sum(dim=1)
        losses['num_no_overlap'] = (num_cells == 0).sum().float()
        return losses, StepHealth(branches=health, pos_pairs=num_cells)
