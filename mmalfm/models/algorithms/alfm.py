# Copyright (c) mmalfm contributors. All rights reserved.
r"""ALFM: Aligning Local Features from Multi-view.

Fang et al., *Aligning local features from multi-view (ALFM): A hybrid
self-supervised framework for object detection via contextual distillation
and global representation learning*, Knowledge-Based Systems 330 (2025).
Only the abstract is public: every choice it does not state is ours and a
constructor argument (``docs/advanced_guides/alfm.md``).
"""
from typing import Dict, Tuple

from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import TransferSpec
from ..utils import StepHealth
from ..utils.correspondence import match_ids  # noqa: F401 (public here)
from ..utils.legacy_layout import LegacyLayout
from .base import Feats, RegionBatch, RegionSelfSupervisor

__all__ = ['ALFM']

_GMSR, _CDLP = 'heads.gmsr.', 'heads.cdlp.'


@MODELS.register_module()
class ALFM(RegionSelfSupervisor):
    """ALFM: GMSR on global embeddings + CDLP on regions.

    A detector's region features should carry the context around a region:
    in CDLP the student predicts, from a tight local crop of the region,
    the soft labels an EMA teacher gives the region inside a global view;
    GMSR (alignment + coding rate of two global views, siamese) learns the
    global representation next to it.

    Student: the trunk (``backbone``, ``neck`` FPN, ``roi_head``: the
    exported detector parts) and two heads, ``heads.gmsr``
    (``GMSRHead``: projector on C5 + GMSR loss) and ``heads.cdlp``
    (``CDLPHead``: RoI embedding with a prototype head + distillation loss,
    optional redundancy term); teacher: EMA of the trunk and the prototype
    head (none without CDLP: ``heads.cdlp=None`` is the GMSR-only
    ablation). The step, equations, logged keys and design choices:
    ``docs/advanced_guides/alfm.md``.

    Besides the heads' terms, ALFM logs the sampler's counters
    ``alfm_random_boxes`` and ``alfm_no_overlap`` (sums over the batch).

    Args:
        **kwargs: :class:`RegionSelfSupervisor` arguments.
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='alfm', neck='fpn', box_head=True,
        default='backbone+fpn+bbox_head',
        # the flat layout's groups (checkpoints from before the heads)
        drops=dict(projector='projector MLP', predictor='predictor MLP',
                   cdlp_head='CDLP head (prototypes)',
                   cdlp_loss='distillation loss state (centers)',
                   gmsr_loss='GMSR loss state',
                   redundancy_loss='redundancy loss state'),
        export_flags=('--with-neck', '--with-head'))

    heads_hint = ("gmsr=dict(type='GMSRHead', ...), "
                  "cdlp=dict(type='CDLPHead', ...)")

    # The flat layout of earlier configs and checkpoints.
    legacy = LegacyLayout(
        heads=dict(
            gmsr=dict(type='GMSRHead'),
            cdlp=dict(type='CDLPHead', embedding=dict(type='RoIEmbedding'))),
        config=dict(
            projector=_GMSR + 'projector',
            gmsr_loss=_GMSR + 'loss',
            global_views=_GMSR + 'global_views',
            roi_pool=_CDLP + 'embedding.roi_pool',
            cdlp_head=_CDLP + 'embedding.projector',
            cdlp_loss=_CDLP + 'loss',
            redundancy_loss=_CDLP + 'redundancy_loss',
            redundancy_weight=_CDLP + 'redundancy_weight',
            level_thresholds=_CDLP + 'level_thresholds',
            local_level=_CDLP + 'local_level',
            local_box=_CDLP + 'local_box',
            teacher_view=_CDLP + 'teacher_view',
            cross_view_distillation=_CDLP + 'cross_view_distillation',
            bn_groups=_CDLP + 'bn_groups'),
        state={
            'projector.': _GMSR + 'projector.',
            'gmsr_loss.': _GMSR + 'loss_module.',
            'cdlp_head.': _CDLP + 'embedding.projector.',
            'cdlp_loss.': _CDLP + 'loss_module.',
            'redundancy_loss.': _CDLP + 'redundancy_loss.'
        },
        optional_heads=dict(
            cdlp=('embedding.projector', 'loss', 'redundancy_loss')))

    def __init__(self,
                 *args,
                 target_ema: dict = dict(
                     type='CosineEMA', momentum=0.004, end_momentum=0.),
                 **kwargs) -> None:
        super().__init__(*args, target_ema=target_ema, **kwargs)
        if self.with_maps and None in (self.neck, self.roi_head):
            raise ValueError('ALFM: region heads need model.neck and '
                             'model.roi_head')

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        """The heads' terms, then the sampler's counters."""
        losses, health = super().region_losses(online, target, batch)
        counts = batch.counts()
        for name, key in (('num_random', 'alfm_random_boxes'),
                          ('no_overlap', 'alfm_no_overlap')):
            if name in counts:
                losses[key] = counts[name].sum().float()
        return losses, health
