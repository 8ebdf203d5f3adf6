# Copyright (c) mmalfm contributors. All rights reserved.
"""MoCo v2's global term as a head, shared by CrossCL and DUPR.

It is CrossCL's ``L_global`` (Yan et al., ICME 2023) and DUPR's global
branch (Ding et al., TPAMI 2024): the global MLP (``MoCoV2Neck``) on the
last backbone stage of the pair's first view (online) and second view (EMA
target), then :class:`MoCoQueueHead` (InfoNCE against the keys and a
queue, then enqueue).
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import RegionBatch
from ..utils.health import StepHealth
from .region_head import BaseRegionHead, HeadInputs

__all__ = ['MoCoGlobalHead']


@MODELS.register_module()
class MoCoGlobalHead(BaseRegionHead):
    """``loss_global = head(neck(C5 of view a), EMA neck(C5 of view b))``
    for the region sampler's one view pair ``(a, b)``.

    Health: the L2-normalised online embeddings as branch ``global``.

    Args:
        neck (dict): The global MLP, e.g. ``MoCoV2Neck(2048, 2048, 128,
            with_avg_pool=True)``; its EMA copy embeds the keys.
        head (dict): ``MoCoQueueHead`` (queue, temperature, loss weight).
        init_cfg (dict, optional): Initialisation config.
    """

    target_parts = ('neck', )
    uses_maps = False

    def __init__(self,
                 neck: dict,
                 head: dict,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.neck = MODELS.build(neck)
            self.head = MODELS.build(head)

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The first view of the sampler's one pair."""
        return [batch.only_pair('MoCoGlobalHead', 'a region sampler')[0].view]

    def target_views(self, batch: RegionBatch) -> List[int]:
        """The second view of the sampler's one pair."""
        return [batch.only_pair('MoCoGlobalHead', 'a region sampler')[1].view]

    def loss(self, inputs: HeadInputs) -> Tuple[Dict[str, Tensor],
                                                StepHealth]:
        set_q, set_k = inputs.batch.only_pair('MoCoGlobalHead',
                                              'a region sampler')
        v_q, v_k = set_q.view, set_k.view
        q = self.neck((inputs.online[v_q][-1], ))[0]
        with torch.no_grad():
            k = inputs.target_parts.neck((inputs.target[v_k][-1], ))[0]
        g = F.normalize(q.detach().float(), dim=1)
        return dict(loss_global=self.head(q, k)), StepHealth(
            branches={'global': g})
