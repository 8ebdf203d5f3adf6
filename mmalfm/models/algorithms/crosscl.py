# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL: cross-stage regional contrastive learning.

Yan, Yang, Gao, Zheng, *Self-supervised Cross-stage Regional Contrastive
Learning for Object Detection*, ICME 2023 (released code ``yanjk3/CrossCL``,
now ``iSEE-Laboratory/CrossCL``).
"""
from typing import Dict, List, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import TransferSpec
# registers the head (heads.region) in MODELS
from ..utils import StepHealth
from ..utils.build import check_parts
from ..utils.legacy_layout import LegacyLayout
from ..utils.shuffle_bn import batch_shuffle_ddp, batch_unshuffle_ddp
from .base import Feats, RegionBatch, RegionSelfSupervisor

__all__ = ['CrossCL', 'batch_shuffle_ddp', 'batch_unshuffle_ddp']

_MOCO, _REGION = 'heads.moco.', 'heads.region.'


@MODELS.register_module()
class CrossCL(RegionSelfSupervisor):
    r"""CrossCL = MoCo v2 + same- and cross-stage regional InfoNCE on P3/P4.

    One step (views ``q``, ``k`` and the pair of ``CrossCLWindowSampler``:
    36 query-view windows and the same rows in the key view, id ``-1``
    where a window is not fully inside it; read from the
    :class:`~mmalfm.structures.RegionBatch`)::

        EMA update of the key encoder (before the key forward)
        P3q, P4q, c5q = enc(q)                        online
        P3k, P4k, c5k = EMA enc(shuffleBN(k))         no grad
        loss_global = heads.moco                      (MoCoGlobalHead)
        loss_p4, loss_p3, loss_p4_p3, loss_p3_p4 = heads.region
                                                      (CrossStageRegionHead)

    ``enc`` = ``backbone`` (C3, C4, C5) -> ``neck`` (``PartialFPN``: P3,
    P4), and avgpool(C5) ``[B, C5, 1, 1]``. ``heads.moco`` embeds the
    pooled C5 of ``q`` with its ``MoCoV2Neck`` (the EMA copy for ``k``) and
    contrasts against the ``MoCoQueueHead`` queue; ``heads.region`` is the
    four regional terms on P3/P4 (1x1 PrRoIPool, dense key negatives). The
    key encoder is the EMA (``ExponentialMovingAverage(momentum=0.001)``,
    keep rate 0.999) of ``backbone``, ``neck`` and ``heads.moco.neck``.
    Health: ``embeddings`` are the global embeddings (branch ``global``).

    **ShuffleBN** (``shuffle_bn=True``): the key forward runs on the batch
    shuffled across ranks (:func:`batch_shuffle_ddp`), every key output
    (P3, P4, pooled C5) is unshuffled; the alternative (SyncBN) and the
    released code's choices are in ``configs/crosscl/README.md``.

    Args:
        backbone (dict): ResNet with ``out_indices`` giving C3, C4, C5.
        neck (dict): ``PartialFPN``.
        heads (dict): ``moco=MoCoGlobalHead(neck=MoCoV2Neck(2048, 2048,
            128, with_avg_pool=True), head=MoCoQueueHead(...))`` and
            ``region=CrossStageRegionHead(...)``, in this order.
        shuffle_bn (bool): ShuffleBN on the key forward under DDP.
        target_ema (dict): EMA config (constant keep rate 0.999).
        batch_views (bool): Unused by CrossCL (one view per branch); kept
            False.
        **kwargs: Other :class:`RegionSelfSupervisor` arguments
            (``data_preprocessor``, ``init_cfg``), or the flat layout's
            keys (``global_neck``, ``loss``, ``view_size``, ...; read
            through :attr:`legacy` with a ``DeprecationWarning``).
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='crosscl',
        neck='partial_fpn',
        default='backbone (mmdet); backbone+P3-P5 FPN (detectron2)',
        # the flat layout's group names, for checkpoints from before the
        # heads (today's heads.* is dropped as every method's heads are)
        drops=dict(
            global_neck='global MLP neck',
            global_head='global contrastive head (queue)'),
        key_signature='neck.fpn_lateral3.weight')

    target_modules = ('backbone', 'neck')

    heads_hint = ("moco=dict(type='MoCoGlobalHead', ...), "
                  "region=dict(type='CrossStageRegionHead', ...)")

    # The flat layout of earlier configs and checkpoints.
    legacy = LegacyLayout(
        heads=dict(
            moco=dict(type='MoCoGlobalHead'),
            region=dict(type='CrossStageRegionHead')),
        config=dict(
            global_neck=_MOCO + 'neck',
            global_head=_MOCO + 'head',
            loss=_REGION + 'loss',
            view_size=_REGION + 'view_size',
            neg_pool=_REGION + 'neg_pool',
            level_strides=_REGION + 'level_strides',
            gather_p4=_REGION + 'gather_p4',
            gather_p3=_REGION + 'gather_p3',
            loss_weights=_REGION + 'loss_weights',
            prroi_impl=_REGION + 'prroi_impl'),
        state={
            'global_neck.': _MOCO + 'neck.',
            'global_head.': _MOCO + 'head.',
            'loss_module.': _REGION + 'loss_module.'
        })

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 heads: Optional[Dict[str, Optional[dict]]] = None,
                 shuffle_bn: bool = True,
                 target_ema: Optional[dict] = dict(
                     type='ExponentialMovingAverage', momentum=0.001),
                 batch_views: bool = False,
                 **kwargs) -> None:
        check_parts('CrossCL', target_ema, kwargs,
                    ('roi_head', 'projector', 'predictor', 'roi_pool'))
        super().__init__(
            backbone=backbone,
            neck=neck,
            heads=heads,
            target_ema=target_ema,
            batch_views=batch_views,
            **kwargs)
        out = getattr(self.backbone, 'out_indices', None)
        if out is not None and len(out) != 3:
            raise ValueError(f'CrossCL needs C3, C4, C5 from the backbone: '
                             f'model.backbone.out_indices={tuple(out)}; use '
                             '(1, 2, 3)')
        if self.neck is None:
            raise ValueError('CrossCL needs model.neck (PartialFPN)')
        self.shuffle_bn = shuffle_bn

    # ----------------------------------------------------------- features
    def encode(self, x: Tensor, target: bool = False) -> Feats:
        """``(P3 [B, C, H/8, W/8], P4 [B, C, H/16, W/16], C5 pooled
        [B, C5, 1, 1])``; the key forward is batch-shuffled across ranks
        when ``shuffle_bn`` and every output unshuffled.

        The last stage is average-pooled here, online and target alike,
        so that ShuffleBN all-gathers ``[B, C5, 1, 1]`` instead of the
        whole C5 map. The global neck (``MoCoV2Neck(with_avg_pool=True)``)
        pools again, which leaves a 1x1 map as it is: the embeddings are
        those of the unpooled map, bit for bit.
        """
        unshuffle = None
        if target and self.shuffle_bn:
            x, unshuffle = batch_shuffle_ddp(x)
        feats = super().encode(x, target)
        feats = feats[:-1] + (F.adaptive_avg_pool2d(feats[-1], 1), )
        if unshuffle is not None:
            feats = tuple(batch_unshuffle_ddp(f, unshuffle) for f in feats)
        return feats

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The heads' views (the query view of the sampler's pair), after
        checking the batch has that one pair."""
        batch.only_pair('CrossCL', 'CrossCLWindowSampler')
        return super().online_views(batch)

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        """The heads' terms; the health's ``embeddings`` are the global
        embeddings (branch ``global``) when ``heads.moco`` is on."""
        losses, health = super().region_losses(online, target, batch)
        health.embeddings = health.branches.get('global', health.embeddings)
        return losses, health

