# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL: cross-stage regional contrastive learning.

Yan, Yang, Gao, Zheng, *Self-supervised Cross-stage Regional Contrastive
Learning for Object Detection*, ICME 2023 (released code ``yanjk3/CrossCL``,
now ``iSEE-Laboratory/CrossCL``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import TransferSpec
from ..utils import (StepHealth, check_level_negatives,
                     dense_window_negatives, prroi_pool_1x1)
from ..utils.build import check_parts
from ..utils.shuffle_bn import batch_shuffle_ddp, batch_unshuffle_ddp
from .base import Feats, RegionBatch, RegionSelfSupervisor, _build

__all__ = ['CrossCL', 'batch_shuffle_ddp', 'batch_unshuffle_ddp']

#: The four regional terms: (log name, query level, key level, negatives).
REGION_TERMS = (('p4', 'p4', 'p4', 'p4'), ('p3', 'p3', 'p3', 'p3'),
                ('p4_p3', 'p4', 'p3', 'p3'), ('p3_p4', 'p3', 'p4', 'p4'))


@MODELS.register_module()
class CrossCL(RegionSelfSupervisor):
    r"""CrossCL = MoCo v2 + same- and cross-stage regional InfoNCE on P3/P4.

    One step (views ``q``, ``k`` and the pair of ``CrossCLWindowSampler``:
    36 query-view windows and the same rows in the key view, id ``-1``
    where a window is not fully inside it; read from the
    :class:`~mmalfm.structures.RegionBatch`)::

        EMA update of the key encoder (before the key forward)
        P3q, P4q, gq = enc(q)                         online
        P3k, P4k, gk = EMA enc(shuffleBN(k))          no grad
        r{3,4}{q,k} = PrRoIPool1x1(P{3,4}, boxes, 1/8 | 1/16)   fp32
        N4 = norm(avgpool3x3_s1(P4k)), gathered across ranks
        N3 = norm(avgpool3x3_s1(P3k)), local (``gather_p3=False``)
        loss_global = MoCoQueueHead(gq, gk)            (then enqueue gk)
        loss_p4    = NCE(r4q, r4k, N4)    loss_p3    = NCE(r3q, r3k, N3)
        loss_p4_p3 = NCE(r4q, r3k, N3)    loss_p3_p4 = NCE(r3q, r4k, N4)

    ``enc`` = ``backbone`` (C3, C4, C5) -> ``neck`` (``PartialFPN``: P3, P4)
    and ``global_neck`` (``MoCoV2Neck`` on avgpool(C5)). NCE is
    ``InfoNCELoss`` (T = 0.2, positive at logit 0, rows of invalid windows
    ignored, mean over the valid windows of the local batch). Regional
    features have no projector (L2-normalised 256-d FPN vectors). The key
    encoder is the EMA (``ExponentialMovingAverage(momentum=0.001)``, keep
    rate 0.999) of ``backbone``, ``neck`` and ``global_neck``.

    **ShuffleBN** (``shuffle_bn=True``): the key forward runs on the batch
    shuffled across ranks (:func:`batch_shuffle_ddp`), every key output
    (P3, P4, global key) is unshuffled; the alternative (SyncBN) and the
    released code's choices are in ``configs/crosscl/README.md``.

    Args:
        backbone (dict): ResNet with ``out_indices`` giving C3, C4, C5.
        neck (dict): ``PartialFPN``.
        global_neck (dict): ``MoCoV2Neck(2048, 2048, 128,
            with_avg_pool=True)``.
        global_head (dict): ``MoCoQueueHead`` (queue, T, loss weight).
        loss (dict): Regional loss, ``InfoNCELoss(temperature=0.2)``.
        view_size (int): Side of both views (released: 224): the model
            choice of ``neg_pool`` is checked against it at build time, and
            the query view against it when the step first encodes it.
        neg_pool (tuple[int, int]): ``(kernel, stride)`` of the dense key
            negatives in feature cells (released: ``(3, 1)`` at 224,
            ``(4, 2)`` at 384, ``(5, 2)`` at 480).
        level_strides (tuple[int, int]): Strides of P3 and P4 (8, 16).
        gather_p4 (bool): All-gather the P4 negatives (released: True).
        gather_p3 (bool): All-gather the P3 negatives (released: False,
            so the loss then depends on the number of GPUs).
        loss_weights (dict, optional): Weights of ``p4``, ``p3``,
            ``p4_p3``, ``p3_p4`` (released: all 1; the global weight is
            ``global_head.loss_weight``).
        shuffle_bn (bool): ShuffleBN on the key forward under DDP.
        prroi_impl (str, optional): ``prroi_pool_1x1`` implementation
            (None: mmcv on CUDA, exact torch closed form otherwise).
        target_ema (dict): EMA config (constant keep rate 0.999).
        batch_views (bool): Unused by CrossCL (one view per branch); kept
            False.
        **kwargs: Other :class:`RegionSelfSupervisor` arguments
            (``data_preprocessor``, ``init_cfg``).
    """

    # What a detector reuses (mmalfm.structures.transfer): read by the
    # exporter, PretrainedExport and the demo.
    transfer = TransferSpec(
        name='crosscl',
        neck='partial_fpn',
        default='backbone (mmdet); backbone+P3-P5 FPN (detectron2)',
        drops=dict(
            global_neck='global MLP neck',
            global_head='global contrastive head (queue)'),
        key_signature='neck.fpn_lateral3.weight')

    target_modules = ('backbone', 'neck', 'global_neck')

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 global_neck: dict,
                 global_head: dict,
                 loss: dict = dict(type='InfoNCELoss', temperature=0.2),
                 view_size: int = 224,
                 neg_pool: Sequence[int] = (3, 1),
                 level_strides: Sequence[int] = (8, 16),
                 gather_p4: bool = True,
                 gather_p3: bool = False,
                 loss_weights: Optional[Dict[str, float]] = None,
                 shuffle_bn: bool = True,
                 prroi_impl: Optional[str] = None,
                 target_ema: Optional[dict] = dict(
                     type='ExponentialMovingAverage', momentum=0.001),
                 batch_views: bool = False,
                 **kwargs) -> None:
        check_parts('CrossCL', target_ema, kwargs,
                    ('roi_head', 'projector', 'predictor', 'roi_pool'))
        check_level_negatives('CrossCL', view_size, neg_pool, level_strides)
        super().__init__(
            backbone=backbone,
            neck=neck,
            target_ema=None,  # built below, once global_neck exists
            batch_views=batch_views,
            **kwargs)
        out = getattr(self.backbone, 'out_indices', None)
        if out is not None and len(out) != 3:
            raise ValueError(f'CrossCL needs C3, C4, C5 from the backbone: '
                             f'model.backbone.out_indices={tuple(out)}; use '
                             '(1, 2, 3)')
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.loss_module = _build(loss)
            self.global_neck = _build(global_neck)
            self.global_head = _build(global_head)
        if self.neck is None or self.loss_module is None:
            raise ValueError('CrossCL needs model.neck (PartialFPN) and '
                             'model.loss (InfoNCELoss)')
        self.view_size = int(view_size)
        self.neg_pool = tuple(int(v) for v in neg_pool)
        self.level_strides = dict(p3=int(level_strides[0]),
                                  p4=int(level_strides[1]))
        self.gather = dict(p3=bool(gather_p3), p4=bool(gather_p4))
        weights = dict(p4=1., p3=1., p4_p3=1., p3_p4=1.)
        unknown = set(loss_weights or {}) - set(weights)
        if unknown:
            raise ValueError(f'model.loss_weights: unknown terms '
                             f'{sorted(unknown)}; known: {sorted(weights)}')
        weights.update(loss_weights or {})
        self.loss_weights = {k: float(v) for k, v in weights.items()}
        self.shuffle_bn = shuffle_bn
        self.prroi_impl = prroi_impl
        self.target_ema = target_ema
        self.build_target()

    # ----------------------------------------------------------- features
    def encode(self, x: Tensor, target: bool = False) -> Feats:
        """``(P3 [B, C, H/8, W/8], P4 [B, C, H/16, W/16], g [B, D])`` with
        ``g`` the (unnormalised) global embedding; the key forward is
        batch-shuffled across ranks when ``shuffle_bn``."""
        net = self.target if target else self
        unshuffle = None
        if target and self.shuffle_bn:
            x, unshuffle = batch_shuffle_ddp(x)
        c3, c4, c5 = net.backbone(x)
        p3, p4 = net.neck((c3, c4, c5))
        g = net.global_neck((c5, ))[0]
        feats = (p3, p4, g)
        if unshuffle is not None:
            feats = tuple(batch_unshuffle_ddp(f, unshuffle) for f in feats)
        return feats

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The query view of the sampler's pair; it must have the model's
        ``view_size`` (the dense negatives were checked for it)."""
        rq, _ = batch.only_pair('CrossCL', 'CrossCLWindowSampler')
        hw = batch.view_shapes[rq.view]
        if hw != (self.view_size, self.view_size):
            raise ValueError(
                f'CrossCL: view {rq.view} is {hw[1]}x{hw[0]} but model.'
                f'view_size={self.view_size}; make the MultiViewCrop view '
                'size, CrossCLWindowSampler.view_size and model.view_size '
                'equal')
        return [rq.view]

    def target_views(self, batch: RegionBatch) -> List[int]:
        """The key view of the sampler's pair."""
        return [batch.only_pair('CrossCL', 'CrossCLWindowSampler')[1].view]

    # --------------------------------------------------------------- losses
    def region_features(self, feats: Feats,
                        boxes: Tensor) -> Dict[str, Tensor]:
        """1x1 PrRoIPool of ``[N, M, 4]`` view boxes on P3 and P4:
        ``{'p3': [N*M, C], 'p4': [N*M, C]}`` fp32, L2-normalised."""
        out = {}
        for i, name in enumerate(('p3', 'p4')):
            v = prroi_pool_1x1(feats[i], boxes, 1. / self.level_strides[name],
                               self.prroi_impl)
            out[name] = F.normalize(v, dim=1)
        return out

    def dense_negatives(self, feats: Feats) -> Dict[str, Tensor]:
        """Dense key-window negatives of P3 (local unless ``gather_p3``)
        and P4 (gathered unless ``gather_p4=False``): ``{'p3': [M3, C],
        'p4': [M4, C]}``."""
        kernel, stride = self.neg_pool
        return {
            name: dense_window_negatives(
                feats[i], kernel, stride, gather=self.gather[name])
            for i, name in enumerate(('p3', 'p4'))
        }

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        rq, rk = batch.only_pair('CrossCL', 'CrossCLWindowSampler')
        q_feats, k_feats = online[rq.view], target[rk.view]
        valid_nm = (rq.ids >= 0) & (rk.ids >= 0)  # [N, M]
        valid = valid_nm.flatten()
        q = self.region_features(q_feats, rq.boxes)
        with torch.no_grad():
            k = self.region_features(k_feats, rk.boxes)
            negs = self.dense_negatives(k_feats)
        losses = {'loss_global': self.global_head(q_feats[2], k_feats[2])}
        for name, q_lv, k_lv, n_lv in REGION_TERMS:
            losses[f'loss_{name}'] = self.loss_weights[name] * \
                self.loss_module(q[q_lv], k[k_lv], negs[n_lv], valid=valid)
        n, m = valid_nm.shape
        # logged, not summed into the loss (no 'loss' in the name)
        losses['valid_windows'] = valid_nm.float().sum() / max(n, 1)
        g = F.normalize(q_feats[2].detach().float(), dim=1)
        health = StepHealth(
            embeddings=g,
            branches={
                'global': g,
                'p4': q['p4'][valid],
                'p3': q['p3'][valid]
            },
            pos_pairs=valid_nm.sum(dim=1),
            possible_pairs=valid_nm.new_full((n, ), m, dtype=torch.long))
        return losses, health
