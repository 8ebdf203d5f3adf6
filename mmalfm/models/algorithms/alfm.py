# Copyright (c) mmalfm contributors. All rights reserved.
r"""ALFM: Aligning Local Features from Multi-view.

Fang et al., *Aligning local features from multi-view (ALFM): A hybrid
self-supervised framework for object detection via contextual distillation
and global representation learning*, Knowledge-Based Systems 330 (2025).
Only the abstract is public: every choice below that it does not state is
our design and is a constructor argument. See
``configs/alfm/README.md`` and ``docs/advanced_guides/alfm.md``.

One step (two global views ``G_1, G_2``, ``L`` local patches ``L_r``)::

    GMSR  z_v = projector(avgpool(C5(G_v)))          student only (siamese)
          L_GMSR = gmsr_loss(z_1, z_2)                 align + entropy
    CDLP  t_r^a = cdlp_head_T(roi_head_T(RoIAlign(P^T_l(r)(G_a), b_r^a)))
          s_r^L = cdlp_head(roi_head(RoIAlign(P_l(L_r), whole patch)))
          s_r^b = cdlp_head(roi_head(RoIAlign(P_l(r)(G_b), b_r^b)))
          L_CDLP = 1/2 sum_a [ mean_r H(t^a, s^L) + mean_r H(t^a, s^b) ]
    L = L_GMSR + alpha L_CDLP [+ redundancy term]
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.registry import DefaultScope
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import RegionSetBatch, TransferSpec
from ..losses.cdlp_terms import cdlp_terms
from ..losses.matched_redundancy import matched_redundancy
from ..utils import (SlotGroups, StepHealth, assign_soco_levels,
                     grouped_bn_stats, id_correspondence)
from ..utils.correspondence import match_ids  # noqa: F401 (public here)
from .base import Feats, RegionBatch, RegionSelfSupervisor, _build, _last

__all__ = ['ALFM']


@MODELS.register_module()
class ALFM(RegionSelfSupervisor):
    """ALFM: GMSR on global embeddings + CDLP on regions.

    **Networks.** Student: ``backbone`` (ResNet-50) + ``neck`` (mmdet FPN,
    P2-P5) + ``roi_head`` (4conv1fc ``RegionRoIHead``) -- the exported
    detector parts, named as in mmdet -- plus ``projector`` (GMSR, on
    ``avgpool(C5)``, e.g. ``NonLinearNeck(with_avg_pool=True)``) and
    ``cdlp_head`` (:class:`~mmalfm.models.heads.PrototypeHead`). Teacher:
    EMA (``target_ema``, ``CosineEMA(momentum=0.004, end_momentum=0)`` =
    keep-rate 0.996 -> 1) of ``backbone``, ``neck``, ``roi_head`` and
    ``cdlp_head`` only: GMSR is siamese (both global views go through the
    student and the entropy term prevents collapse), so the projector has no
    teacher copy. Without CDLP no teacher is built.

    **Views** (``MultiViewCrop``): the local patches are the views of the
    ``kind='region_crop'`` entries (the batch's ``local_sets``), the other
    views are context views; the GMSR pair is ``global_views`` (a model
    choice: a pipeline may give more than two context views, e.g. SoCo's
    three views in ``configs/mix/``). :meth:`encode` returns the FPN levels
    followed by the backbone's last stage (``(P2, P3, P4, P5, C5)``).

    **Regions.** The CDLP terms are generic over the region sampler: for
    every pair ``(s_a, s_b)`` of region sets the sampler returns (ids
    matched by equality: ``ALFMRegionSampler``, ``SoCoRegionSampler``,
    ``CrossCLWindowSampler``, ...), and every local set ``MultiViewCrop``
    appends (``RegionBatch.local_sets``), each student region is matched to the
    first teacher region of the same non-negative id (:func:`match_ids`);
    unmatched rows (padding id ``-1``, images without overlap, invalid
    CrossCL keys) are masked out of the loss, so an image whose overlap had
    no region (``no_overlap``) contributes to GMSR only. Region boxes
    of the pair sets are pooled at their scale-aware level in their own view
    (SoCo thresholds ``level_thresholds`` on view pixels,
    :func:`assign_soco_levels`).

    **CDLP** (``teacher_view='global'``, default): teacher soft labels from
    each side ``a`` of each pair; the student predicts them from every local
    patch with the same id (``loss_cdlp_local``) and from the other side
    ``b`` (``loss_cdlp_cross``, if ``cross_view_distillation``); each term is
    the mean over matched rows, averaged over the teacher sides (and pairs).
    ``teacher_view='local'`` (ablation "teacher on the local view") swaps the
    local relation: the teacher labels the local patch, the student predicts
    from the global regions (the cross term is unchanged). The centre of
    ``cdlp_loss`` is updated once per step with all valid teacher logits.

    **Logged:** ``loss_gmsr_<term>`` (the GMSR loss's terms),
    ``loss_cdlp_local``, ``loss_cdlp_cross``, ``loss_redundancy``; when the
    sampler reports them, ``alfm_random_boxes`` (random boxes in the batch:
    ``RegionBatch.num_random``) and ``alfm_no_overlap`` (images without
    region). Health: ``branches={'gmsr': z_1, 'cdlp': student region
    embeddings}``, ``pos_pairs`` (per-image matched pairs of the first
    region pair) for ``RepresentationHealthHook`` and its collapse guard.

    Args:
        backbone (dict): Backbone config (all stages out, ``out_indices=(0,
            1, 2, 3)``).
        neck (dict, optional): FPN config (needed for CDLP/redundancy).
        roi_head (dict, optional): ``RegionRoIHead`` config.
        projector (dict): GMSR projector (MMPretrain neck on ``(C5, )``).
        cdlp_head (dict, optional): ``PrototypeHead`` config; None with
            ``cdlp_loss=None`` disables CDLP (GMSR-only ablation).
        gmsr_loss (dict): ``CodingRateLoss`` (default), ``MECLoss`` or
            ``VICRegLoss``; returns a dict of weighted terms.
        cdlp_loss (dict, optional): ``SoftLabelDistillationLoss``; its
            ``loss_weight`` is ALFM's ``alpha``; ``out_dim`` must equal the
            head's ``num_prototypes``.
        redundancy_loss (dict, optional): Barlow-Twins term on the student
            RoI-head features of matched regions of each pair (e.g.
            ``dict(type='CrossCorrelationLoss', lambd=5e-3)``, MMPretrain's);
            off (None) by default.
        redundancy_weight (float): Its weight; the term is
            ``weight * CCL(C) / D`` with ``C`` the ``D x D`` cross-correlation
            of the batch-standardised features.
        roi_pool (dict, optional): ``MultiLevelRoIPool`` arguments.
        target_ema (dict, optional): Teacher EMA config.
        global_views (tuple[int, int]): The GMSR views (two context views).
        level_thresholds (Sequence[float]): SoCo level bounds (view px) of
            P2..P5 (``48/96/192/224`` at 224 px; scale with the view size).
        local_level (int, optional): Fixed FPN level index of the local
            patches; None assigns it by the patch size with
            ``level_thresholds`` (P3 for a 96-px patch at the 224-px
            thresholds).
        local_box (str): ``'whole'`` pools the whole local patch (default);
            ``'region'`` pools the tracked region box in the patch (equal up
            to the outward pixel rounding; differs with a crop ``margin``).
        teacher_view (str): ``'global'`` or ``'local'`` (see above).
        cross_view_distillation (bool): Add ``loss_cdlp_cross``.
        batch_views (bool): Same-size views share one backbone forward (the
            global views in one batch, the local patches in another).
        bn_groups (str): BatchNorm statistics of ``roi_head`` and
            ``cdlp_head`` over the regions of one branch call: ``'batch'``
            (default) normalises all region sets of the call together, as a
            detector's box head normalises the RoIs of every level in one
            call; ``'set'`` gives each region set its own statistics
            (``grouped_bn_stats``), so that a set is normalised over the
            same regions in the student and the teacher (whose call holds
            no local sets). See ``configs/alfm/README.md``.
        **kwargs: Other :class:`RegionSelfSupervisor` arguments
            (``data_preprocessor``, ``init_cfg``, ...).
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='alfm',
        neck='fpn',
        box_head=True,
        default='backbone+fpn+bbox_head',
        drops=dict(
            projector='projector MLP',
            predictor='predictor MLP',
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
        if bn_groups not in ('batch', 'set'):
            raise ValueError(f"ALFM: bn_groups must be 'batch' or 'set', got "
                             f'{bn_groups!r}')
        self.bn_groups = bn_groups
        if kwargs.get('loss') is not None or kwargs.get(
                'predictor') is not None:
            raise ValueError('ALFM takes gmsr_loss / cdlp_loss / '
                             'redundancy_loss, not loss or predictor')
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
        if (cdlp_head is None) != (cdlp_loss is None):
            raise ValueError('ALFM: set both model.cdlp_head and '
                             'model.cdlp_loss (CDLP on) or neither (GMSR '
                             f'only); got cdlp_head={cdlp_head!r}, '
                             f'cdlp_loss={cdlp_loss!r}')
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.cdlp_head = _build(cdlp_head)
            self.gmsr_loss = _build(gmsr_loss)
            self.cdlp_loss = _build(cdlp_loss)
            self.redundancy_loss = _build(redundancy_loss)
        self.with_cdlp = self.cdlp_head is not None
        self.with_regions = self.with_cdlp or self.redundancy_loss is not None
        if self.gmsr_loss is None:
            raise ValueError('ALFM needs model.gmsr_loss')
        if self.with_regions and None in (self.neck, self.roi_head,
                                          self.roi_pool):
            raise ValueError('ALFM: CDLP and the redundancy term need '
                             'model.neck, model.roi_head and model.roi_pool')
        if self.with_cdlp:
            if target_ema is None:
                raise ValueError('ALFM: CDLP needs a teacher (target_ema)')
            k_head = getattr(self.cdlp_head, 'num_prototypes', None)
            k_loss = getattr(self.cdlp_loss, 'out_dim', None)
            if k_head is not None and k_loss is not None and k_head != k_loss:
                raise ValueError(
                    f'ALFM: model.cdlp_head.num_prototypes={k_head} but '
                    f'model.cdlp_loss.out_dim={k_loss}; set them equal')
            # The projector has no teacher: GMSR is siamese.
            self.target_ema = target_ema
            self.build_target()
        self.redundancy_weight = float(redundancy_weight)

        self.global_views = tuple(int(v) for v in global_views)
        if len(self.global_views) != 2 or \
                self.global_views[0] == self.global_views[1]:
            raise ValueError(f'global_views must be two different views, '
                             f'got {global_views}')
        self.level_thresholds = tuple(level_thresholds)
        if self.roi_pool is not None and \
                len(self.level_thresholds) != self.roi_pool.num_levels:
            raise ValueError(
                f'ALFM: {len(self.level_thresholds)} level_thresholds but '
                f'roi_pool has {self.roi_pool.num_levels} featmap_strides')
        if local_level is not None and self.roi_pool is not None and \
                not 0 <= local_level < self.roi_pool.num_levels:
            raise ValueError(f'local_level must be None or in 0..'
                             f'{self.roi_pool.num_levels - 1}, got '
                             f'{local_level}')
        self.local_level = local_level
        if local_box not in ('whole', 'region'):
            raise ValueError(f"local_box must be 'whole' or 'region', got "
                             f'{local_box!r}')
        self.local_box = local_box
        if teacher_view not in ('global', 'local'):
            raise ValueError(f"teacher_view must be 'global' or 'local', "
                             f'got {teacher_view!r}')
        self.teacher_view = teacher_view
        self.cross_view_distillation = cross_view_distillation

    # ------------------------------------------------------------ features
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
        self._check_views(batch)
        if not self.with_regions:
            return list(self.global_views)
        return list(range(batch.num_views))

    def target_views(self, batch: RegionBatch) -> List[int]:
        if not self.with_cdlp:
            return []
        if self.teacher_view == 'local':
            return list(range(batch.num_views))
        return batch.context_views

    def _check_views(self, batch: RegionBatch) -> None:
        """The batch has the GMSR views, pairs of context views and, for
        ``teacher_view='local'``, local patches."""
        fix = (' Make MultiViewCrop(views=[...]) give the context views of '
               'model.global_views and dict(kind="region_crop", num=...) '
               'local patches, with a region_sampler (e.g. '
               'ALFMRegionSampler(num_regions=...)), or change the model.')
        context = batch.context_views
        if not set(self.global_views) <= set(context):
            raise ValueError(
                f'ALFM: model.global_views={self.global_views} must be '
                f'context (non-local) views of the batch, which has '
                f'{batch.num_views} views, local patches at views '
                f'{batch.local_views}.' + fix)
        if self.teacher_view == 'local' and not batch.local_sets:
            raise ValueError("ALFM: teacher_view='local' needs local "
                             'patches; the batch has none.' + fix)
        if not self.with_regions:
            return
        batch.require_pairs('ALFM (CDLP/redundancy)', 'ALFMRegionSampler')
        bad = [(batch.sets[a].view, batch.sets[b].view)
               for a, b in batch.pairs
               if not {batch.sets[a].view, batch.sets[b].view} <= set(context)]
        if bad:
            raise ValueError(f'ALFM: region pairs must join context views, '
                             f'got view pairs {bad}.' + fix)

    # -------------------------------------------------------------- regions
    def _pool(self, feats: Feats, rb: RegionSetBatch,
              batch: RegionBatch) -> Tensor:
        """``[N, M, C, S, S]`` RoIs of one set at its levels."""
        geom = batch.geometry[:, rb.view]
        boxes = rb.boxes
        local = rb.view in batch.local_views
        if local and self.local_box == 'whole':
            boxes = geom.view_box.to(boxes)[:, None].expand_as(boxes)
        if local and self.local_level is not None:
            levels = torch.full_like(rb.ids, self.local_level)
        else:
            levels = assign_soco_levels(boxes, geom, self.level_thresholds)
        levels = levels.clamp(min=-1)
        return self.pool_regions(feats[:self.roi_pool.num_levels], boxes,
                                 levels)

    def _embed_sets(self, feats: Dict[int, Feats], batch: RegionBatch,
                    sets: Sequence[int],
                    target: bool) -> Dict[int, Tuple[Tensor, ...]]:
        """RoI head (+ CDLP head) of several sets in one batch.

        Returns:
            dict: set -> ``(features [N, M, D], embeddings [N, M, E],
            logits [N, M, K])`` (the last two None without CDLP).
        """
        net = self.target if target else self
        rois = [self._pool(feats[batch.sets[s].view], batch.sets[s], batch)
                for s in sets]
        sizes = [r.shape[1] for r in rois]
        rois = torch.cat(rois, dim=1)
        n = rois.shape[0]
        groups = None
        if self.bn_groups == 'set' and len(sizes) > 1:
            groups = SlotGroups(
                torch.arange(len(sizes)).repeat_interleave(
                    torch.tensor(sizes)))
        head = net.cdlp_head if self.with_cdlp else None

        def embed(x: Tensor) -> List[Tensor]:
            x = net.roi_head(x)
            if head is None:
                return [x]
            e = head.embed(x)
            return [x, e, head.classify(e)]

        if groups is None:
            outs = [o.reshape(n, sum(sizes), -1)
                    for o in embed(rois.flatten(0, 1))]
        else:
            with grouped_bn_stats([net.roi_head, head], groups.sizes(n)):
                outs = [groups.from_rows(o, n)
                        for o in embed(groups.to_rows(rois))]
        outs += [None] * (3 - len(outs))
        split = [
            o.split(sizes, dim=1) if o is not None else [None] * len(sets)
            for o in outs
        ]
        return {
            s: tuple(part[i] for part in split)
            for i, s in enumerate(sets)
        }

    # -------------------------------------------------------------- losses
    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        losses: Dict[str, Tensor] = {}
        g1, g2 = self.global_views
        z1 = _last(self.projector((online[g1][-1], )))
        z2 = _last(self.projector((online[g2][-1], )))
        for name, value in self.gmsr_loss(z1, z2).items():
            losses[f'loss_gmsr_{name}'] = value
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
                cdlp_terms(self.cdlp_loss,
                           {s: out[2] for s, out in student.items()},
                           {s: out[2] for s, out in teacher.items()}, ids,
                           pairs, pair_sets, local_sets, self.teacher_view,
                           self.cross_view_distillation))
            used = torch.cat([teacher[s][2][ids[s] >= 0] for s in t_sets])
            self.cdlp_loss.update_center(used)
            emb = student[first_b][1]
            health.branches['cdlp'] = emb[ids[first_b] >= 0]

        if self.redundancy_loss is not None:
            terms = [
                matched_redundancy(self.redundancy_loss,
                                   self.redundancy_weight, student[a][0],
                                   ids[a], student[b][0], ids[b])
                for a, b in pairs
            ]
            losses['loss_redundancy'] = sum(terms) / len(terms)
        return losses, health
