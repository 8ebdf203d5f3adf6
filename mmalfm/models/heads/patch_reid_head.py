# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR's patch re-identification as a head (Ding, Xie et al., TPAMI 2024;
the reconstructed choices: docs/advanced_guides/dupr.md)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from mmalfm.registry import MODELS
from mmalfm.structures import RegionBatch, RegionSetBatch
from ..losses.reid_nce import symmetric_reid_nce
from ..utils.build import build_optional
from ..utils.cell_embedding import embed_valid_cells
from ..utils.dupr_masks import check_mask_args, important_cells, large_cells
from ..utils.enqueue import enqueue_valid_keys
from ..utils.feature_levels import backbone_out_indices, resolve_levels
from ..utils.health import StepHealth
from ..utils.patch_levels import build_patch_levels
from ..utils.roi_pool import MultiLevelRoIPool
from .region_head import BaseRegionHead, Feats, HeadInputs

__all__ = ['PatchReIDHead']


@MODELS.register_module()
class PatchReIDHead(BaseRegionHead):
    r"""Patch re-identification at several feature levels (DUPR).

    Each cell of ``DUPRGridSampler``'s grid on the two views' overlap is a
    pseudo-identity to re-identify in the other view, at every level of
    ``levels``. Per level ``l`` and direction ``(a, b)``, the ``[N, M]``
    cells (ids ``0..S²-1``, ``-1`` padding) are RoI-pooled in both views
    and embedded by ``patch_necks[l]`` (online in ``a``, its EMA copy in
    ``b``) to ``[N, M, D]``; :func:`symmetric_reid_nce` scores each query
    against its own cell, the image's other cells and the level's queue
    (``loss_reid_<level name>``). Only the cells of the ``[N, M]`` masks
    (:meth:`important_mask`, :meth:`size_mask`) take part; images without
    a cell count in ``num_no_overlap``. The valid V2 keys of every level
    are enqueued after all the levels' losses.

    Feature maps: the backbone's outputs (no neck) or the neck's (FPN
    variant); the last backbone stage (C5) gives the cells' energy.
    Health: branch ``reid_<level name>`` (the valid V1 queries, ``[V,
    D]``) and ``pos_pairs`` (cells per image, ``[N]``).

    Args:
        patch_neck (dict): Per-level MLP template without ``in_channels``
            (filled per level), e.g. ``NonLinearNeck(hid_channels=2048,
            out_channels=128, with_avg_pool=True, ...)``.
        loss (dict): Patch loss, ``InfoNCELoss(temperature=0.2)``.
        levels (Sequence[int]): Backbone stage indices (``0`` = C2, ...,
            ``3`` = C5; each must be in ``backbone.out_indices``) or, with
            a neck, neck output indices (P2 = 0 with ``start_level=0``).
            Defaults to ``(1, 2, 3)`` (C3-C5 / P3-P5).
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
        init_cfg (dict, optional): Initialisation config.
    """

    target_parts = ('patch_necks', )

    def __init__(self,
                 patch_neck: dict,
                 loss: dict = dict(type='InfoNCELoss', temperature=0.2),
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
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_mask_args(num_important, min_cell_strides)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.loss_module = build_optional(loss)
        # the level parts are built in bind_trunk (they need the trunk)
        self._level_args = (levels, level_names, level_channels,
                            level_strides, level_weights)
        self._patch_neck, self._roi_pool = patch_neck, roi_pool
        self._queue_len = patch_queue_len
        self.reid_weight = float(reid_weight)
        self.gather_keys = gather_keys
        self.num_important = num_important
        self.min_cell_strides = float(min_cell_strides)

    def bind_trunk(self, backbone: nn.Module,
                   neck: Optional[nn.Module]) -> None:
        """Resolve the levels on the trunk; build one patch MLP, RoI pool
        and queue per level, then the C5 energy pool."""
        lv = resolve_levels(backbone, neck, *self._level_args)
        self.levels, self.level_names = lv.levels, lv.names
        self.level_channels, self.level_strides = lv.channels, lv.strides
        self.level_weights = lv.weights
        self.patch_necks, self.patch_pools, self.patch_queues = \
            build_patch_levels(self._patch_neck, self._roi_pool,
                               self.level_channels, self.level_strides,
                               self._queue_len)
        # where the maps of encode's (*maps, C5) hold each level
        stages = backbone_out_indices(backbone)
        self._map_index = [i if neck is not None else stages.index(i)
                           for i in self.levels]
        # "important patches": RoIAlign of the last backbone output (C5)
        self.energy_pool = MultiLevelRoIPool(
            **(self._roi_pool or {}),
            featmap_strides=(2**(stages[-1] + 2), ))

    # --------------------------------------------------------------- views
    @staticmethod
    def cell_sets(batch: RegionBatch) -> List[RegionSetBatch]:
        """The two cell sets (same cells, same order) of the pair."""
        return list(batch.only_pair('PatchReIDHead', 'DUPRGridSampler'))

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The two views of ``DUPRGridSampler``'s pair."""
        return [rb.view for rb in self.cell_sets(batch)]

    def target_views(self, batch: RegionBatch) -> List[int]:
        """The same two views (keys and the cells' energy)."""
        return self.online_views(batch)

    # --------------------------------------------------------------- cells
    def important_mask(self, target: Dict[int, Feats],
                       regions: List[RegionSetBatch], valid: Tensor) -> Tensor:
        """``[N, M]`` top-``num_important`` valid cells by target C5 energy
        summed over the two views (:func:`important_cells`)."""
        return important_cells(self.energy_pool,
                               [target[rb.view][-1] for rb in regions],
                               [rb.boxes for rb in regions], valid,
                               self.num_important)

    def size_mask(self, regions: List[RegionSetBatch], j: int) -> Tensor:
        """``[N, M]`` cells at least ``min_cell_strides`` strides of level
        ``j`` wide and high in both views (:func:`large_cells`)."""
        return large_cells([rb.boxes for rb in regions],
                           self.min_cell_strides * self.level_strides[j])

    def embed_cells(self, feats: Feats, rb: RegionSetBatch, j: int,
                    valid: Tensor, necks: Optional[nn.Module] = None
                    ) -> Optional[Tensor]:
        """``[N, M, D]`` L2-normalised embeddings of the cells at level
        ``j`` by ``necks[j]`` (default: the online ``patch_necks``), zeros
        at invalid cells; None for fewer than two valid cells in one
        process (:func:`embed_valid_cells`)."""
        necks = self.patch_necks if necks is None else necks
        return embed_valid_cells(self.patch_pools[j], necks[j],
                                 feats[self._map_index[j]], rb.boxes, valid)

    # ---------------------------------------------------------------- loss
    def loss(self, inputs: HeadInputs) -> Tuple[Dict[str, Tensor],
                                                StepHealth]:
        regions = self.cell_sets(inputs.batch)
        online, target = inputs.online, inputs.target
        ema_necks = inputs.target_parts.patch_necks
        cells = regions[0].ids >= 0  # [N, M]
        base_valid = self.important_mask(target, regions, cells)
        losses: Dict[str, Tensor] = {}
        health: Dict[str, Tensor] = {}
        to_enqueue = []
        for j, name in enumerate(self.level_names):
            valid = base_valid & self.size_mask(regions, j)
            q = [self.embed_cells(online[rb.view], rb, j, cells)
                 for rb in regions]
            with torch.no_grad():
                k = [self.embed_cells(target[rb.view], rb, j, cells,
                                      ema_necks) for rb in regions]
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
