# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR: Deeply Unsupervised Patch Re-identification.

Ding, Xie et al., *Deeply Unsupervised Patch Re-Identification for
Pre-Training Object Detectors*, TPAMI 2024 (arXiv 2103.04814). There is no
public code and only the abstract is known; everything else is our
reconstruction, and every reconstructed choice is an argument of a head
(see ``configs/dupr/README.md``).
"""
from typing import Dict, List, Optional

from mmalfm.registry import MODELS
from mmalfm.structures import TransferSpec
from ..heads.moco_global_head import MoCoGlobalHead
from ..heads.patch_reid_head import PatchReIDHead
from ..utils.build import check_parts
from ..utils.legacy_layout import LegacyLayout
from .base import RegionBatch, RegionSelfSupervisor

__all__ = ['DUPR']

_MOCO, _REID = 'heads.moco.', 'heads.reid.'

#: The flat layout's keys of the patch head that kept their names.
_REID_KEYS = ('levels', 'level_names', 'level_channels', 'level_strides',
              'level_weights', 'reid_weight', 'patch_queue_len',
              'gather_keys', 'num_important', 'min_cell_strides', 'roi_pool')


@MODELS.register_module()
class DUPR(RegionSelfSupervisor):
    r"""DUPR: MoCo v2 + patch re-identification at several levels.

    A detector needs features that tell the patches of an image apart at
    every level of its pyramid: each cell of two views' overlap is a
    pseudo-identity to re-identify in the other view, at every level, next
    to MoCo v2's global term.

    The trunk is the ``backbone`` (``out_indices`` must hold every level of
    the patch head when there is no neck; the **last** output, C5, feeds
    the global head and the cells' energy) and the optional ``neck`` (FPN
    variant: the patch head reads the neck's outputs). Two heads:

    * ``heads.moco`` (:class:`MoCoGlobalHead`): ``loss_global``, the global
      MLP on C5 of V1 against its EMA copy on C5 of V2 and a queue;
    * ``heads.reid`` (:class:`PatchReIDHead`): ``loss_reid_<level>`` per
      level on ``DUPRGridSampler``'s cells, and ``num_no_overlap``.

    The momentum encoder is the EMA of the trunk, the global MLP and the
    patch MLPs. The step, the masks and the reconstructed choices:
    ``docs/advanced_guides/dupr.md``.

    Args:
        backbone (dict): e.g. ``mmdet.ResNet``.
        neck (dict, optional): ``mmdet.FPN`` (FPN variant); then
            ``heads.reid.levels`` index the neck's outputs.
        heads (dict): ``moco=MoCoGlobalHead(neck, head)``, ``reid=
            PatchReIDHead(patch_neck, loss, levels, ...)``, in this order.
        target_ema (dict): EMA config. Defaults to constant 0.999.
        batch_views (bool): Forward both views in one batch. Defaults to
            False (each view its own BN batch, like MoCo's two encoders).
        **kwargs: Other :class:`RegionSelfSupervisor` arguments, or the
            flat layout's keys (:attr:`legacy`).
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='dupr',
        neck='fpn',
        default='backbone (+FPN for the FPN variant)',
        # the flat layout's groups (checkpoints from before the heads)
        drops=dict(
            global_neck='global MLP neck',
            global_head='global contrastive head (queue)',
            patch_necks='patch-level MLP heads',
            patch_queues='patch-level negative queues'))

    target_modules = ('backbone', 'neck')

    heads_hint = ("moco=dict(type='MoCoGlobalHead', ...), "
                  "reid=dict(type='PatchReIDHead', ...)")

    # The flat layout of earlier configs and checkpoints.
    legacy = LegacyLayout(
        heads=dict(
            moco=dict(type='MoCoGlobalHead'),
            reid=dict(type='PatchReIDHead')),
        config=dict(
            global_neck=_MOCO + 'neck',
            global_head=_MOCO + 'head',
            patch_neck=_REID + 'patch_neck',
            loss=_REID + 'loss',
            **{key: _REID + key for key in _REID_KEYS}),
        state={
            'global_neck.': _MOCO + 'neck.',
            'global_head.': _MOCO + 'head.',
            'loss_module.': _REID + 'loss_module.',
            'patch_necks.': _REID + 'patch_necks.',
            'patch_pools.': _REID + 'patch_pools.',
            'patch_queues.': _REID + 'patch_queues.',
            'energy_pool.': _REID + 'energy_pool.'
        })

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 heads: Optional[Dict[str, Optional[dict]]] = None,
                 target_ema: Optional[dict] = dict(
                     type='ExponentialMovingAverage', momentum=0.001),
                 batch_views: bool = False,
                 **kwargs) -> None:
        check_parts('DUPR', target_ema, kwargs,
                    ('roi_head', 'projector', 'predictor'))
        super().__init__(
            backbone=backbone,
            neck=neck,
            heads=heads,
            target_ema=target_ema,
            batch_views=batch_views,
            **kwargs)
        if not any(isinstance(h, (MoCoGlobalHead, PatchReIDHead))
                   for h in self.heads.values()):
            raise ValueError(f'DUPR needs model.heads: {self.heads_hint}')

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The two views of ``DUPRGridSampler``'s pair (checked first, so
        that a wrong pipeline names DUPR's sampler)."""
        batch.only_pair('DUPR', 'DUPRGridSampler')
        return super().online_views(batch)
