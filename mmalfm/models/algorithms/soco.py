# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo: Selective Object COntrastive learning.

Wei et al., *Aligning Pretraining for Detection via Object-Level
Contrastive Learning*, NeurIPS 2021 (released code ``hologerry/SoCo``).
"""
from mmalfm.registry import MODELS
from mmalfm.structures import TransferSpec
from ..heads.soco_region_head import SoCoRegionHead
from ..utils.legacy_layout import LegacyLayout
from .base import RegionSelfSupervisor

__all__ = ['SoCo']

_HEAD = 'heads.region.'


@MODELS.register_module()
class SoCo(RegionSelfSupervisor):
    """SoCo (FPN, SoCo* and C4 variants): the trunk (backbone, FPN or none,
    the detector's RoI head: 4conv1fc or C4 res5), an EMA target, and a
    ``SoCoRegionHead`` (``heads.region``: RoI embedding, BYOL loss per view
    pair, scale-aware levels). The sampler's pairs are ``((0, 1), (0, 2))``
    for SoCo FPN, ``((0, 1), (0, 2), (0, 3))`` for SoCo* and ``((0, 1),)``
    for C4 (``SoCoRegionSampler(pairs=...)``).

    Args:
        **kwargs: :class:`RegionSelfSupervisor` arguments; ``heads`` must
            hold a ``SoCoRegionHead`` and ``target_ema`` is required.
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='soco',
        neck='fpn',
        box_head=True,
        default='backbone+fpn+bbox_head (FPN) | backbone+res5 (C4)',
        # the flat layout's groups (checkpoints from before the heads)
        drops=dict(projector='projector MLP', predictor='predictor MLP'),
        export_flags=('--with-neck', '--with-head'))

    heads_hint = "region=dict(type='SoCoRegionHead', ...)"

    # The flat layout of earlier configs and checkpoints.
    legacy = LegacyLayout(
        heads=dict(region=dict(type='SoCoRegionHead',
                               embedding=dict(type='RoIEmbedding'))),
        config=dict(
            roi_pool=_HEAD + 'embedding.roi_pool',
            projector=_HEAD + 'embedding.projector',
            predictor=_HEAD + 'embedding.predictor',
            loss=_HEAD + 'loss',
            scale_aware=_HEAD + 'scale_aware',
            level_thresholds=_HEAD + 'level_thresholds',
            assigned_level_only=_HEAD + 'assigned_level_only',
            bn_groups=_HEAD + 'bn_groups',
            released_box_convention=_HEAD + 'released_box_convention'),
        state={
            'projector.': _HEAD + 'embedding.projector.',
            'predictor.': _HEAD + 'embedding.predictor.',
            'loss_module.': _HEAD + 'loss_module.'
        })

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.roi_head is None or self.target_net is None or not any(
                isinstance(h, SoCoRegionHead) for h in self.heads.values()):
            raise ValueError('SoCo needs model.roi_head, model.target_ema and '
                             "a head of type 'SoCoRegionHead' in model.heads")
