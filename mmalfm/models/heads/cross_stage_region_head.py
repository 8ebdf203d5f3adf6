# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL's regional terms: same- and cross-stage InfoNCE of P3/P4 window
features with dense key negatives (Yan et al., *Self-supervised
Cross-stage Regional Contrastive Learning for Object Detection*, ICME
2023)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import RegionBatch
from ..utils import (StepHealth, check_level_negatives,
                     dense_window_negatives, prroi_pool_1x1)
from .region_head import BaseRegionHead, Feats, HeadInputs

__all__ = ['CrossStageRegionHead', 'REGION_TERMS']

#: The four regional terms: (log name, query level, key level, negatives).
REGION_TERMS = (('p4', 'p4', 'p4', 'p4'), ('p3', 'p3', 'p3', 'p3'),
                ('p4_p3', 'p4', 'p3', 'p3'), ('p3_p4', 'p3', 'p4', 'p4'))


@MODELS.register_module()
class CrossStageRegionHead(BaseRegionHead):
    r"""The four regional InfoNCE terms of CrossCL on P3/P4.

    For the one pair of ``CrossCLWindowSampler`` (query view ``q``: the
    online encoding; key view ``k``: the EMA target's; ``M`` windows per
    image, key id ``-1`` where a window is not fully inside the key
    view), with ``P3``, ``P4`` the first two maps of each encoding::

        r{3,4}{q,k} = norm(PrRoIPool1x1(P{3,4}, boxes, 1/8 | 1/16))  fp32
        N4 = norm(avgpool3x3_s1(P4k)), gathered across ranks
        N3 = norm(avgpool3x3_s1(P3k)), local (``gather_p3=False``)
        loss_p4    = NCE(r4q, r4k, N4)    loss_p3    = NCE(r3q, r3k, N3)
        loss_p4_p3 = NCE(r4q, r3k, N3)    loss_p3_p4 = NCE(r3q, r4k, N4)

    NCE is ``loss`` (``InfoNCELoss``: positive at logit 0, rows of invalid
    windows ignored, mean over the valid windows of the local batch).
    Regional features have no projector. Also logged (not summed):
    ``valid_windows``, the mean number of valid windows per image.

    Health: branches ``p4`` and ``p3`` (the valid query windows
    ``[V, C]``), ``pos_pairs`` ``[N]`` (valid windows per image) and
    ``possible_pairs`` ``[N]`` (``M``).

    Args:
        loss (dict): Regional loss, ``InfoNCELoss(temperature=0.2)``.
        view_size (int): Side of both views (released: 224): ``neg_pool``
            is checked against it at build time, and the query view
            against it when the step first encodes it.
        neg_pool (tuple[int, int]): ``(kernel, stride)`` of the dense key
            negatives in feature cells (released: ``(3, 1)`` at 224,
            ``(4, 2)`` at 384, ``(5, 2)`` at 480).
        level_strides (tuple[int, int]): Strides of P3 and P4 (8, 16).
        gather_p4 (bool): All-gather the P4 negatives (released: True).
        gather_p3 (bool): All-gather the P3 negatives (released: False,
            so the loss then depends on the number of GPUs).
        loss_weights (dict, optional): Weights of ``p4``, ``p3``,
            ``p4_p3``, ``p3_p4`` (released: all 1).
        prroi_impl (str, optional): ``prroi_pool_1x1`` implementation
            (None: mmcv on CUDA, exact torch closed form otherwise).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 loss: dict = dict(type='InfoNCELoss', temperature=0.2),
                 view_size: int = 224,
                 neg_pool: Sequence[int] = (3, 1),
                 level_strides: Sequence[int] = (8, 16),
                 gather_p4: bool = True,
                 gather_p3: bool = False,
                 loss_weights: Optional[Dict[str, float]] = None,
                 prroi_impl: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_level_negatives('CrossCL', view_size,
                              neg_pool, level_strides)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.loss_module = MODELS.build(loss)
        self.view_size = int(view_size)
        self.neg_pool = tuple(int(v) for v in neg_pool)
        self.level_strides = dict(p3=int(level_strides[0]),
                                  p4=int(level_strides[1]))
        self.gather = dict(p3=bool(gather_p3), p4=bool(gather_p4))
        weights = dict(p4=1., p3=1., p4_p3=1., p3_p4=1.)
        unknown = set(loss_weights or {}) - set(weights)
        if unknown:
            raise ValueError(f'model.heads.region.loss_weights: unknown terms'
                             f' {sorted(unknown)}; known: {sorted(weights)}')
        weights.update(loss_weights or {})
        self.loss_weights = {k: float(v) for k, v in weights.items()}
        self.prroi_impl = prroi_impl

    @property
    def needs_target(self) -> bool:
        """True: the keys are the EMA target's maps (the head has no parts
        of its own for the target to copy)."""
        return True

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The query view of the sampler's pair; it must have the head's
        ``view_size`` (the dense negatives were checked for it)."""
        rq, _ = batch.only_pair('CrossStageRegionHead', 'CrossCLWindowSampler')
        hw = batch.view_shapes[rq.view]
        if hw != (self.view_size, self.view_size):
            raise ValueError(
                f'CrossCL: view {rq.view} is {hw[1]}x{hw[0]} but model.heads.'
                f'region.view_size={self.view_size}; make the MultiViewCrop '
                'view size, CrossCLWindowSampler.view_size and '
                'model.heads.region.view_size equal')
        return [rq.view]

    def target_views(self, batch: RegionBatch) -> List[int]:
        """The key view of the sampler's pair."""
        return [batch.only_pair('CrossStageRegionHead',
                                'CrossCLWindowSampler')[1].view]

    def region_features(self, feats: Feats,
                        boxes: Tensor) -> Dict[str, Tensor]:
        """1x1 PrRoIPool of ``[N, M, 4]`` view boxes on P3 (``feats[0]``)
        and P4 (``feats[1]``): ``{'p3': [N*M, C], 'p4': [N*M, C]}`` fp32,
        L2-normalised."""
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

    def loss(self, inputs: HeadInputs) -> Tuple[Dict[str, Tensor],
                                                StepHealth]:
        rq, rk = inputs.batch.only_pair('CrossStageRegionHead',
                                        'CrossCLWindowSampler')
        q_feats, k_feats = inputs.online[rq.view], inputs.target[rk.view]
        valid_nm = (rq.ids >= 0) & (rk.ids >= 0)  # [N, M]
        valid = valid_nm.flatten()
        q = self.region_features(q_feats, rq.boxes)
        with torch.no_grad():
            k = self.region_features(k_feats, rk.boxes)
            negs = self.dense_negatives(k_feats)
        losses = {}
        for name, q_lv, k_lv, n_lv in REGION_TERMS:
            losses[f'loss_{name}'] = self.loss_weights[name] * \
                self.loss_module(q[q_lv], k[k_lv], negs[n_lv], valid=valid)
        n, m = valid_nm.shape
        # logged, not summed into the loss (no 'loss' in the name)
        losses['valid_windows'] = valid_nm.float().sum() / max(n, 1)
        health = StepHealth(
            branches={
                'p4': q['p4'][valid],
                'p3': q['p3'][valid]
            },
            pos_pairs=valid_nm.sum(dim=1),
            possible_pairs=valid_nm.new_full((n, ), m, dtype=torch.long))
        return losses, health
