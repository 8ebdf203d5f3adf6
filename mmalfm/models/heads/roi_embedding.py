# Copyright (c) mmalfm contributors. All rights reserved.
"""RoI embedding: pool -> RoI head -> projector -> predictor.

SoCo and ALFM embed regions the same way: RoIAlign the boxes of a view on
its feature pyramid, run the detector's RoI head (the algorithm's
``roi_head``, which a detector reuses), then the pretraining-only MLPs. This
module owns the pool and the MLPs; the RoI head is passed in, because it
belongs to the trunk (its keys are MMDetection's).
"""
from typing import List, Optional, Sequence, Tuple

from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from mmalfm.registry import MODELS
from ..utils.build import build_optional, first_output
from ..utils.grouped_bn import SlotGroups, grouped_bn_stats
from ..utils.roi_pool import MultiLevelRoIPool

__all__ = ['RoIEmbedding']


def _stage(module: nn.Module, x: Tensor) -> List[Tensor]:
    """Outputs of one stage: ``module.forward_stages(x)`` when it has
    several (e.g. ``PrototypeHead``: embedding, logits), else its one
    output (MMPretrain necks take and return tuples)."""
    if hasattr(module, 'forward_stages'):
        return list(module.forward_stages(x))
    return [first_output(module((x, )))]


@MODELS.register_module()
class RoIEmbedding(BaseModule):
    """RoIAlign -> RoI head -> ``projector`` [-> ``predictor``].

    ``[N, M, 4]`` view boxes -> :meth:`pool` -> ``[N, R, C, S, S]`` RoIs ->
    :meth:`forward` -> every stage's output ``[N, R, D_stage]``: the RoI-head
    features, then the projector's (one, or several for a module with
    ``forward_stages``), then the predictor's (online only).

    Args:
        roi_pool (dict): :class:`~mmalfm.models.utils.MultiLevelRoIPool`
            arguments (``output_size``, ``featmap_strides``,
            ``sampling_ratio``, ``aligned``).
        projector (dict, optional): MLP on the RoI-head features
            (MMPretrain neck style, e.g. ``NonLinearNeck``, or a module
            with ``forward_stages`` such as ``PrototypeHead``).
        predictor (dict, optional): MLP on the projection (online only).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 roi_pool: dict,
                 projector: Optional[dict] = None,
                 predictor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.roi_pool = MultiLevelRoIPool(**roi_pool)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            self.projector = build_optional(projector)
            self.predictor = build_optional(predictor)

    @property
    def num_levels(self) -> int:
        """Levels of the pool (the first ``num_levels`` maps are pooled)."""
        return self.roi_pool.num_levels

    def pool(self,
             feats: Sequence[Tensor],
             boxes: Tensor,
             levels: Optional[Tensor] = None,
             img_shape: Optional[Tuple[int, int]] = None) -> Tensor:
        """RoIAlign of ``[N, M, 4]`` view boxes on the first
        :attr:`num_levels` maps: ``[N, P*M, C, S, S]`` (every level,
        level-major) or ``[N, M, C, S, S]`` (``levels`` given); see
        :class:`~mmalfm.models.utils.MultiLevelRoIPool` for ``img_shape``.
        """
        return self.roi_pool(tuple(feats[:self.num_levels]), boxes, levels,
                             img_shape)

    def forward(self,
                rois: Tensor,
                roi_head: nn.Module,
                groups: Optional[SlotGroups] = None,
                target: Optional[nn.Module] = None) -> List[Tensor]:
        """Embed ``[N, R, C, S, S]`` RoIs, all ``N*R`` in one batch.

        Args:
            rois (Tensor): Pooled regions.
            roi_head (nn.Module): ``[R, C, S, S] -> [R, D]`` (the trunk's,
                online or target).
            groups (SlotGroups, optional): BatchNorm statistics per group
                of slots (:func:`~mmalfm.models.utils.grouped_bn_stats`),
                as one call per group would have them; None: one group.
            target (nn.Module, optional): The EMA copy of this module's
                parts (``target.projector``): embed with it and without
                the predictor.

        Returns:
            list[Tensor]: ``[N, R, D]`` outputs of the RoI head and of each
            projector / predictor stage, in order.
        """
        projector = self.projector if target is None else getattr(
            target, 'projector', None)
        stages = [m for m in (projector, None if target is not None else
                              self.predictor) if m is not None]

        def embed(x: Tensor) -> List[Tensor]:
            outs = [roi_head(x)]
            for stage in stages:
                outs += _stage(stage, outs[-1])
            return outs

        n, r = rois.shape[:2]
        if groups is None or groups.num_groups == 1:
            return [o.reshape(n, r, -1) for o in embed(rois.flatten(0, 1))]
        with grouped_bn_stats([roi_head, *stages], groups.sizes(n)):
            outs = embed(groups.to_rows(rois))
        return [groups.from_rows(o, n) for o in outs]
