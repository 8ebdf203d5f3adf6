# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM's region head: contextual distillation on local patches (CDLP)
and the optional redundancy term (Fang et al., 2025;
docs/advanced_guides/alfm.md)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from mmalfm.registry import MODELS
from mmalfm.structures import RegionBatch
from ..losses.cdlp_step import cdlp_step
from ..losses.matched_redundancy import matched_redundancy
from ..utils.build import build_optional
from ..utils.correspondence import id_correspondence
from ..utils.grouped_bn import SlotGroups
from ..utils.health import StepHealth
from ..utils.set_levels import region_set_levels
from .gmsr_head import VIEW_FIX
from .region_head import BaseRegionHead, HeadInputs

__all__ = ['CDLPHead']

#: Per set: ``(features [N, M, D], embeddings [N, M, E], logits [N, M,
#: K])``, the last two None without prototypes.
SetOutputs = Tuple[Tensor, Optional[Tensor], Optional[Tensor]]


@MODELS.register_module()
class CDLPHead(BaseRegionHead):
    """CDLP: the student predicts, from a tight local patch of a region,
    the soft labels the EMA teacher gives the region inside a global view.

    The region sets are the :class:`~mmalfm.structures.RegionBatch`'s
    id-matched pairs (context views) and local sets (patches). Each branch
    call pools every set at its levels (:func:`region_set_levels`) and runs
    ``embedding`` (RoI head -> ``PrototypeHead``: features ``[N, M, D]``,
    embeddings ``[N, M, E]``, logits ``[N, M, K]``) over all its sets at
    once. Logged keys: ``loss_cdlp_local``, ``loss_cdlp_cross``,
    ``loss_redundancy``.

    Args:
        embedding (dict): ``RoIEmbedding`` whose ``projector`` is the
            ``PrototypeHead`` (None: no CDLP, e.g. the redundancy term
            alone).
        loss (dict, optional): ``SoftLabelDistillationLoss`` (``out_dim`` =
            ``num_prototypes``, ``loss_weight`` = alpha); None with no
            prototype head.
        redundancy_loss (dict, optional): Barlow-Twins term on matched
            student RoI features of each pair (:func:`matched_redundancy`);
            None (default): off.
        redundancy_weight (float): Its weight.
        level_thresholds (Sequence[float]): SoCo level bounds (view px).
        local_level (int, optional): Fixed level of the local patches;
            None: by size.
        local_box (str): Pool the ``'whole'`` local patch or its tracked
            ``'region'`` box.
        teacher_view (str): ``'global'``: the teacher labels the pair sets,
            the student predicts from the local patches; ``'local'`` swaps
            the roles (ablation).
        cross_view_distillation (bool): Add ``loss_cdlp_cross``.
        bn_groups (str): BN statistics of the RoI and prototype heads over
            all sets of a branch call (``'batch'``) or per set (``'set'``).
        init_cfg (dict, optional): Initialisation config.
    """

    target_parts = ('embedding.projector', )

    def __init__(self,
                 embedding: dict,
                 loss: Optional[dict] = None,
                 redundancy_loss: Optional[dict] = None,
                 redundancy_weight: float = 1.0,
                 level_thresholds: Sequence[float] = (48, 96, 192, 224),
                 local_level: Optional[int] = None,
                 local_box: str = 'whole',
                 teacher_view: str = 'global',
                 cross_view_distillation: bool = True,
                 bn_groups: str = 'batch',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.embedding = MODELS.build(embedding)
            self.loss_module = build_optional(loss)
            self.redundancy_loss = build_optional(redundancy_loss)
        self.with_cdlp = self.embedding.projector is not None
        self.redundancy_weight = float(redundancy_weight)
        self.level_thresholds = tuple(level_thresholds)
        self.local_level, self.local_box = local_level, local_box
        self.teacher_view, self.bn_groups = teacher_view, bn_groups
        self.cross_view_distillation = cross_view_distillation
        self._check()

    def _check(self) -> None:
        """The options and parts fit together (errors name the key)."""
        if self.with_cdlp != (self.loss_module is not None):
            raise ValueError('CDLPHead: set both embedding.projector (the '
                             'PrototypeHead) and loss (CDLP on) or neither')
        if not self.with_cdlp and self.redundancy_loss is None:
            raise ValueError('CDLPHead: neither CDLP nor redundancy_loss '
                             'is set; switch the head off with '
                             'model.heads.<name>=None')
        k_head = getattr(self.embedding.projector, 'num_prototypes', None)
        k_loss = getattr(self.loss_module, 'out_dim', None)
        if None not in (k_head, k_loss) and k_head != k_loss:
            raise ValueError(
                f'CDLPHead: embedding.projector.num_prototypes={k_head} but '
                f'loss.out_dim={k_loss}; set them equal')
        levels = self.embedding.num_levels
        if len(self.level_thresholds) != levels:
            raise ValueError(
                f'CDLPHead: {len(self.level_thresholds)} level_thresholds '
                f'but embedding.roi_pool has {levels} featmap_strides')
        if self.local_level is not None and \
                not 0 <= self.local_level < levels:
            raise ValueError(f'CDLPHead: local_level must be None or in '
                             f'0..{levels - 1}, got {self.local_level}')
        for key, value, allowed in (
                ('local_box', self.local_box, ('whole', 'region')),
                ('teacher_view', self.teacher_view, ('global', 'local')),
                ('bn_groups', self.bn_groups, ('batch', 'set'))):
            if value not in allowed:
                raise ValueError(f'CDLPHead: {key} must be one of '
                                 f'{allowed}, got {value!r}')

    @property
    def needs_target(self) -> bool:
        return self.with_cdlp

    def online_views(self, batch: RegionBatch) -> List[int]:
        """Every view (the pairs' context views and the local patches)."""
        if self.teacher_view == 'local' and not batch.local_sets:
            raise ValueError("CDLPHead: teacher_view='local' needs local "
                             'patches; the batch has none.' + VIEW_FIX)
        batch.require_pairs('ALFM (CDLP/redundancy)', 'ALFMRegionSampler')
        context = set(batch.context_views)
        bad = [(batch.sets[a].view, batch.sets[b].view)
               for a, b in batch.pairs
               if not {batch.sets[a].view, batch.sets[b].view} <= context]
        if bad:
            raise ValueError(f'CDLPHead: region pairs must join context '
                             f'views, got view pairs {bad}.' + VIEW_FIX)
        return list(range(batch.num_views))

    def target_views(self, batch: RegionBatch) -> List[int]:
        if not self.with_cdlp:
            return []
        if self.teacher_view == 'local':
            return list(range(batch.num_views))
        return batch.context_views

    def embed_sets(self, feats: Dict[int, Tuple[Tensor, ...]],
                   batch: RegionBatch, sets: Sequence[int],
                   roi_head: nn.Module,
                   target: Optional[nn.Module] = None
                   ) -> Dict[int, SetOutputs]:
        """Pool every set at its levels and embed them in one call.

        Returns:
            dict: set -> :data:`SetOutputs`.
        """
        emb, rois = self.embedding, []
        for rb in (batch.sets[s] for s in sets):
            boxes, levels = region_set_levels(
                rb, batch.geometry[:, rb.view], rb.view in batch.local_views,
                self.local_box, self.local_level, self.level_thresholds)
            rois.append(emb.pool(feats[rb.view], boxes, levels))
        sizes = [r.shape[1] for r in rois]
        groups = None
        if self.bn_groups == 'set' and len(sizes) > 1:
            groups = SlotGroups(torch.arange(len(sizes)).repeat_interleave(
                torch.tensor(sizes)))
        outs = emb(torch.cat(rois, dim=1), roi_head, groups, target)
        outs += [None] * (3 - len(outs))
        split = [o.split(sizes, dim=1) if o is not None else
                 [None] * len(sizes) for o in outs]
        return {s: tuple(part[i] for part in split)
                for i, s in enumerate(sets)}

    def loss(self, inputs: HeadInputs) -> Tuple[Dict[str, Tensor],
                                                StepHealth]:
        batch, losses = inputs.batch, {}
        pairs, pair_sets = batch.pairs, batch.pair_sets
        local_sets = list(batch.local_sets)
        student = self.embed_sets(inputs.online, batch,
                                  pair_sets + local_sets, inputs.roi_head)
        ids = {s: batch.sets[s].ids for s in pair_sets + local_sets}
        first_a, first_b = pairs[0]
        health = StepHealth()
        health.pos_pairs = id_correspondence(ids[first_a],
                                             ids[first_b]).sum(dim=(1, 2))
        health.possible_pairs = torch.full_like(health.pos_pairs,
                                                ids[first_a].shape[1])
        if self.with_cdlp:
            t_sets = pair_sets + (local_sets
                                  if self.teacher_view == 'local' else [])
            with torch.no_grad():
                teacher = self.embed_sets(
                    inputs.target, batch, t_sets, inputs.target_roi_head,
                    target=inputs.target_parts.embedding)
            losses.update(
                cdlp_step(self.loss_module, student, teacher, ids, pairs,
                          pair_sets, local_sets, self.teacher_view,
                          self.cross_view_distillation))
            health.branches['cdlp'] = student[first_b][1][ids[first_b] >= 0]
        if self.redundancy_loss is not None:
            terms = [matched_redundancy(self.redundancy_loss,
                                        self.redundancy_weight, student[a][0],
                                        ids[a], student[b][0], ids[b])
                     for a, b in pairs]
            losses['loss_redundancy'] = sum(terms) / len(terms)
        return losses, health
