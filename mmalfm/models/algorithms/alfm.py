# Copyright (c) mmalfm contributors. All rights reserved.
r"""ALFM: Aligning Local Features from Multi-view.

Fang et al., *Aligning local features from multi-view (ALFM): A hybrid
self-supervised framework for object detection via contextual distillation
and global representation learning*, Knowledge-Based Systems 330 (2025).
Only the abstract is public: every choice it does not state is ours and a
constructor argument (``docs/advanced_guides/alfm.md``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.registry import DefaultScope
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import TransferSpec
from ..losses.cdlp_step import cdlp_step
from ..losses.matched_redundancy import matched_redundancy
from ..utils import StepHealth, id_correspondence
from ..utils.alfm_checks import (check_alfm_config, check_alfm_options,
                                 check_alfm_parts, check_alfm_views)
from ..utils.correspondence import match_ids  # noqa: F401 (public here)
from ..utils.set_embedding import embed_region_sets
from ..utils.set_levels import region_set_levels
from .base import Feats, RegionBatch, RegionSelfSupervisor, _build, _last

__all__ = ['ALFM']


@MODELS.register_module()
class ALFM(RegionSelfSupervisor):
    """ALFM: GMSR on global embeddings + CDLP on regions.

    A detector's region features should carry the context around a region:
    in CDLP the student predicts, from a tight local crop of the region,
    the soft labels an EMA teacher gives the region inside a global view;
    GMSR (alignment + coding rate of two global views, siamese) learns the
    global representation next to it.

    Student: ``backbone``, ``neck`` (FPN), ``roi_head`` (the exported
    detector parts), ``projector`` (GMSR) and ``cdlp_head``; teacher: EMA
    of all but the projector (none without CDLP). The region sets are the
    :class:`~mmalfm.structures.RegionBatch`'s id-matched pairs and local
    sets: RoIs ``[N, M, C, S, S]`` per set, head outputs ``[N, M, D]``
    features, ``[N, M, E]`` embeddings, ``[N, M, K]`` logits. The step,
    equations, logged keys and design choices:
    ``docs/advanced_guides/alfm.md``.

    Args:
        backbone (dict): Backbone config (all four stages out).
        neck (dict, optional): FPN config (needed for CDLP/redundancy).
        roi_head (dict, optional): ``RegionRoIHead`` config.
        projector (dict): GMSR projector (MMPretrain neck on ``(C5, )``).
        cdlp_head (dict, optional): ``PrototypeHead`` config; None with
            ``cdlp_loss=None`` disables CDLP (GMSR-only ablation).
        gmsr_loss (dict): ``CodingRateLoss`` (default), ``MECLoss`` or
            ``VICRegLoss``; returns a dict of weighted terms.
        cdlp_loss (dict, optional): ``SoftLabelDistillationLoss``
            (``loss_weight`` = ``alpha``, ``out_dim`` = ``num_prototypes``).
        redundancy_loss (dict, optional): Barlow-Twins term on matched
            student RoI features of each pair (:func:`matched_redundancy`,
            e.g. ``CrossCorrelationLoss``); None (default): off.
        redundancy_weight (float): Its weight.
        roi_pool (dict, optional): ``MultiLevelRoIPool`` arguments.
        target_ema (dict, optional): Teacher EMA config.
        global_views (tuple[int, int]): The GMSR views (two context views).
        level_thresholds (Sequence[float]): SoCo level bounds (view px) of
            P2..P5 (``48/96/192/224`` at 224 px; scale with the view size).
        local_level (int, optional): Fixed FPN level of the local patches;
            None: by size (:func:`region_set_levels`).
        local_box (str): Pool the ``'whole'`` local patch (default) or its
            tracked ``'region'`` box.
        teacher_view (str): ``'global'`` (default): the teacher labels the
            pair sets, the student predicts from the local patches;
            ``'local'`` swaps these roles (ablation).
        cross_view_distillation (bool): Add ``loss_cdlp_cross``.
        batch_views (bool): Same-size views share one backbone forward (the
            global views in one batch, the local patches in another).
        bn_groups (str): BatchNorm statistics of ``roi_head`` and
            ``cdlp_head`` over all region sets of a branch call
            (``'batch'``, default) or per set (``'set'``: the same regions
            in student and teacher), see :func:`embed_region_sets`.
        **kwargs: Other :class:`RegionSelfSupervisor` arguments.
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='alfm', neck='fpn', box_head=True,
        default='backbone+fpn+bbox_head',
        drops=dict(projector='projector MLP', predictor='predictor MLP',
                   cdlp_head='CDLP head (prototypes)',
                   cdlp_loss='distillation loss state (centers)',
                   gmsr_loss='GMSR loss state',
                   redundancy_loss='redundancy loss state'),
        export_flags=('--with-neck', '--with-head'))

    target_modules = ('backbone', 'neck', 'roi_head', 'cdlp_head')

    def __init__(self,
                 backbone: dict,
                 projector: dict,
                 neck: Optional[dict] = None,
                 roi_head: Optional[dict] = None,
                 cdlp_head: Optional[dict] = None,
                 gmsr_loss: dict = dict(type='CodingRateLoss'),
                 cdlp_loss: Optional[dict] = None,
                 redundancy_loss: Optional[dict] = None,
                 redundancy_weight: float = 1.0,
                 roi_pool: Optional[dict] = None,
                 target_ema: Optional[dict] = dict(
                     type='CosineEMA', momentum=0.004, end_momentum=0.),
                 global_views: Tuple[int, int] = (0, 1),
                 level_thresholds: Sequence[float] = (48, 96, 192, 224),
                 local_level: Optional[int] = None,
                 local_box: str = 'whole',
                 teacher_view: str = 'global',
                 cross_view_distillation: bool = True,
                 batch_views: bool = True,
                 bn_groups: str = 'batch',
                 **kwargs) -> None:
        check_alfm_config(bn_groups, cdlp_head, cdlp_loss, kwargs)
        kwargs.pop('loss', None)
        kwargs.pop('predictor', None)
        super().__init__(
            backbone=backbone,
            neck=neck,
            roi_head=roi_head,
            projector=projector,
            roi_pool=roi_pool,
            target_ema=None,  # built below, once cdlp_head exists
            batch_views=batch_views,
            **kwargs)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.cdlp_head = _build(cdlp_head)
            self.gmsr_loss = _build(gmsr_loss)
            self.cdlp_loss = _build(cdlp_loss)
            self.redundancy_loss = _build(redundancy_loss)
        self.with_cdlp = self.cdlp_head is not None
        self.with_regions = self.with_cdlp or self.redundancy_loss is not None
        check_alfm_parts(self, target_ema)
        if self.with_cdlp:  # the projector has no teacher: GMSR is siamese
            self.target_ema = target_ema
            self.build_target()
        self.redundancy_weight = float(redundancy_weight)
        self.global_views = check_alfm_options(
            global_views, level_thresholds,
            getattr(self.roi_pool, 'num_levels', None), local_level,
            local_box, teacher_view)
        self.level_thresholds = tuple(level_thresholds)
        self.local_level, self.local_box = local_level, local_box
        self.teacher_view, self.bn_groups = teacher_view, bn_groups
        self.cross_view_distillation = cross_view_distillation

    def encode(self, x: Tensor, target: bool = False) -> Feats:
        """``(P2, ..., P5, C5)`` with the neck, ``(C5, )`` without regions
        (GMSR only: the FPN would be wasted)."""
        net = self.target if target else self
        stages = net.backbone(x)
        if not isinstance(stages, (tuple, list)):
            stages = (stages, )
        if not self.with_regions:
            return (stages[-1], )
        return tuple(net.neck(stages)) + (stages[-1], )

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The GMSR views (all views with regions); checks them first."""
        check_alfm_views(batch, self.global_views, self.teacher_view,
                         self.with_regions)
        return list(range(batch.num_views)) if self.with_regions else list(
            self.global_views)

    def target_views(self, batch: RegionBatch) -> List[int]:
        if not self.with_cdlp:
            return []
        if self.teacher_view == 'local':
            return list(range(batch.num_views))
        return batch.context_views

    def _embed_sets(self, feats: Dict[int, Feats], batch: RegionBatch,
                    sets: Sequence[int],
                    target: bool) -> Dict[int, Tuple[Tensor, ...]]:
        """RoI head (+ CDLP head) of several sets in one call, each pooled
        at its levels (:func:`region_set_levels`, :func:`embed_region_sets`).

        Returns:
            dict: set -> ``(features [N, M, D], embeddings [N, M, E],
            logits [N, M, K])`` (the last two None without CDLP).
        """
        net, rois = self.target if target else self, []
        for rb in (batch.sets[s] for s in sets):
            boxes, levels = region_set_levels(
                rb, batch.geometry[:, rb.view], rb.view in batch.local_views,
                self.local_box, self.local_level, self.level_thresholds)
            rois.append(self.pool_regions(
                feats[rb.view][:self.roi_pool.num_levels], boxes, levels))
        outs = embed_region_sets(net.roi_head,
                                 net.cdlp_head if self.with_cdlp else None,
                                 rois, self.bn_groups == 'set')
        return dict(zip(sets, outs))

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        z1, z2 = (_last(self.projector((online[g][-1], )))
                  for g in self.global_views)
        losses = {f'loss_gmsr_{k}': v
                  for k, v in self.gmsr_loss(z1, z2).items()}
        health = StepHealth(branches=dict(gmsr=z1))
        counts = batch.counts()
        for name, key in (('num_random', 'alfm_random_boxes'),
                          ('no_overlap', 'alfm_no_overlap')):
            if name in counts:
                losses[key] = counts[name].sum().float()
        if not self.with_regions:
            return losses, health

        pairs, pair_sets = batch.pairs, batch.pair_sets
        local_sets = list(batch.local_sets)
        student = self._embed_sets(online, batch, pair_sets + local_sets,
                                   target=False)
        ids = {s: batch.sets[s].ids for s in pair_sets + local_sets}
        first_a, first_b = pairs[0]
        health.pos_pairs = id_correspondence(ids[first_a],
                                             ids[first_b]).sum(dim=(1, 2))
        health.possible_pairs = torch.full_like(health.pos_pairs,
                                                ids[first_a].shape[1])

        if self.with_cdlp:
            t_sets = pair_sets + (local_sets
                                  if self.teacher_view == 'local' else [])
            with torch.no_grad():
                teacher = self._embed_sets(target, batch, t_sets,
                                           target=True)
            losses.update(
                cdlp_step(self.cdlp_loss, student, teacher, ids, pairs,
                          pair_sets, local_sets, self.teacher_view,
                          self.cross_view_distillation))
            emb = student[first_b][1]
            health.branches['cdlp'] = emb[ids[first_b] >= 0]

        if self.redundancy_loss is not None:
            terms = [matched_redundancy(self.redundancy_loss,
                                        self.redundancy_weight, student[a][0],
                                        ids[a], student[b][0], ids[b])
                     for a, b in pairs]
            losses['loss_redundancy'] = sum(terms) / len(terms)
        return losses, health
