# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM's global head: GMSR on two global views (Fang et al., 2025;
docs/advanced_guides/alfm.md)."""
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.registry import DefaultScope
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import RegionBatch
from ..utils.build import first_output
from ..utils.health import StepHealth
from .region_head import BaseRegionHead, HeadInputs

__all__ = ['GMSRHead']

#: How to give a batch the views a head needs (part of the error messages).
VIEW_FIX = (' Make MultiViewCrop(views=[...]) give the context views of '
            'global_views and dict(kind="region_crop", num=...) local '
            'patches, with a region_sampler (e.g. ALFMRegionSampler('
            'num_regions=...)), or change the model.')


@MODELS.register_module()
class GMSRHead(BaseRegionHead):
    """Global minimal sufficient representation: ``projector`` on the last
    backbone stage of two global views, then a GMSR loss (alignment +
    coding rate by default). Siamese: no EMA target.

    Logged keys: ``loss_gmsr_<term>`` for every term the loss returns.

    Args:
        projector (dict): MMPretrain neck on ``(C5, )`` (e.g.
            ``NonLinearNeck(2048, 4096, 256, with_avg_pool=True)``).
        loss (dict): ``CodingRateLoss`` (default), ``MECLoss`` or
            ``VICRegLoss``; returns a dict of weighted terms.
        global_views (tuple[int, int]): The two context views.
        init_cfg (dict, optional): Initialisation config.
    """

    uses_maps = False

    def __init__(self,
                 projector: dict,
                 loss: dict = dict(type='CodingRateLoss'),
                 global_views: Sequence[int] = (0, 1),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        views = tuple(int(v) for v in global_views)
        if len(views) != 2 or views[0] == views[1]:
            raise ValueError(f'GMSRHead: global_views must be two different '
                             f'views, got {global_views}')
        self.global_views = views
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.projector = MODELS.build(projector)
            self.loss_module = MODELS.build(loss)

    def online_views(self, batch: RegionBatch) -> List[int]:
        """The two global views (context views of the batch)."""
        if not set(self.global_views) <= set(batch.context_views):
            raise ValueError(
                f'GMSRHead: global_views={self.global_views} must be '
                f'context (non-local) views of the batch, which has '
                f'{batch.num_views} views, local patches at views '
                f'{batch.local_views}.' + VIEW_FIX)
        return list(self.global_views)

    def loss(self, inputs: HeadInputs) -> Tuple[Dict[str, Tensor],
                                                StepHealth]:
        z1, z2 = (first_output(self.projector((inputs.online[g][-1], )))
                  for g in self.global_views)
        losses = {f'loss_gmsr_{k}': v
                  for k, v in self.loss_module(z1, z2).items()}
        return losses, StepHealth(branches=dict(gmsr=z1))
