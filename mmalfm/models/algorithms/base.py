# Copyright (c) mmalfm contributors. All rights reserved.
"""What SoCo, CrossCL, DUPR and ALFM share: :class:`RegionSelfSupervisor`.

One training step (:meth:`RegionSelfSupervisor.loss`)::

    views (K tensors) + data samples (view geometry, regions)
      -> batch   = RegionBatch.build(views, data_samples)   once, model device:
                   geometry [N, K], view shapes, region sets, pairs, local
                   sets, per-image counters
      -> online  = neck(backbone(view))               online_views(batch)
      -> target EMA update (once per iteration)         before any target use
      -> target  = EMA copy, no grad, train mode      target_views(batch)
      -> losses, health = region_losses(online, target, batch)
      -> health published in MessageHub (models/utils/health.py)

The model takes every data fact (pairs, windows, local patches, counters)
from the :class:`~mmalfm.structures.RegionBatch`, checked where first
needed; its config holds only model choices. Subclasses implement
:meth:`region_losses` (and may override :meth:`online_views` /
:meth:`target_views`), helped by :meth:`pool_regions` and :meth:`embed_rois`.
"""
from abc import abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.registry import DefaultScope
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import Tensor

from mmalfm.registry import MODELS
from mmalfm.structures import RegionBatch, RegionSetBatch
from ..utils import (MultiLevelRoIPool, SlotGroups, StepHealth,
                     grouped_bn_stats, publish_health)
from ..utils.build import build_optional as _build
from ..utils.build import first_output as _last
from ..utils.ema_target import EMATargetMixin
from ..utils.retired_keys import reject_retired

__all__ = ['RegionBatch', 'RegionSetBatch', 'RegionSelfSupervisor']

Feats = Tuple[Tensor, ...]

@MODELS.register_module()
class RegionSelfSupervisor(EMATargetMixin, BaseSelfSupervisor):
    """Shared base of the region-level self-supervised algorithms.

    The online network is ``backbone`` [-> ``neck``] for feature maps and,
    for region embeddings, ``roi_pool`` -> ``roi_head`` -> ``projector``
    [-> ``predictor``]. The target network is an EMA copy (``target_ema``,
    MMPretrain's ``CosineEMA`` by default) of the online modules named in
    :attr:`target_modules` that exist, held as ``target_net`` (state-dict
    keys ``target_net.module.<name>.*``); it is updated once per iteration
    (:meth:`update_target`) before the target forward, and runs in train
    mode (batch statistics), like MMPretrain's ``BYOL``
    (:class:`~mmalfm.models.utils.ema_target.EMATargetMixin`). A config key
    whose fact the data pipeline now states (``RETIRED_KEYS``) fails the
    build with a message naming the pipeline side.

    Children are built in the ``mmalfm`` default scope, so ``type=
    'mmalfm.SoCo'`` in an MMDetection (or any other) config builds all of
    them (MMEngine otherwise builds under the caller's scope).

    Args:
        backbone (dict): Backbone (e.g. ``mmdet.ResNet``).
        neck (dict, optional): Feature neck (e.g. ``mmdet.FPN``).
        roi_head (dict, optional): RoI feature head (``RegionRoIHead``).
        projector (dict, optional): Projector MLP (MMPretrain-style neck:
            tuple in, tuple out, e.g. ``NonLinearNeck``).
        predictor (dict, optional): Predictor MLP (online only).
        loss (dict, optional): The loss module(s) config (``loss_module``).
        roi_pool (dict, optional): ``MultiLevelRoIPool`` arguments
            (``output_size``, ``featmap_strides``, ``sampling_ratio``,
            ``aligned``).
        target_ema (dict, optional): EMA config (``type`` plus arguments
            other than ``model``); None = no target network.
        batch_views (bool): Forward same-size views through the backbone
            in one batch (faster; BN statistics then span those views). The
            released SoCo/BYOL code forwards each view separately (False).
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        pretrained (str, optional): Checkpoint for ``init_cfg``.
        init_cfg (dict, optional): Initialisation config.
    """

    #: Online modules copied into the EMA target (those that are not None).
    target_modules: Tuple[str, ...] = ('backbone', 'neck', 'roi_head',
                                       'projector')

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 roi_head: Optional[dict] = None,
                 projector: Optional[dict] = None,
                 predictor: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 roi_pool: Optional[dict] = None,
                 target_ema: Optional[dict] = dict(
                     type='CosineEMA', momentum=0.01, end_momentum=0.),
                 batch_views: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 **retired) -> None:
        reject_retired(type(self).__name__, retired)
        with DefaultScope.overwrite_default_scope('mmalfm'):
            super().__init__(
                backbone=MODELS.build(backbone),
                neck=_build(neck),
                pretrained=pretrained,
                data_preprocessor=_build(
                    data_preprocessor,
                    dict(type='SelfSupDataPreprocessor')),
                init_cfg=init_cfg)
            self.roi_head = _build(roi_head)
            self.projector = _build(projector)
            self.predictor = _build(predictor)
            self.loss_module = _build(loss)
            self.roi_pool = None
            if roi_pool is not None:
                self.roi_pool = MultiLevelRoIPool(**roi_pool)
            self.target_ema = target_ema
            self.target_net = None
            self.build_target()
        self.batch_views = batch_views
        self._ema_iter: Optional[int] = None

    # ------------------------------------------------------------- features
    def encode(self, x: Tensor, target: bool = False) -> Feats:
        """Feature maps of a batch of images (backbone [+ neck]); override
        for other maps (:meth:`encode_views` splits each along dim 0)."""
        net = self.target if target else self
        feats = net.backbone(x)
        neck = getattr(net, 'neck', None)
        if neck is not None:
            feats = neck(feats)
        return tuple(feats) if isinstance(feats, (tuple, list)) else (feats, )

    def encode_views(self,
                     views: Sequence[Tensor],
                     indices: Sequence[int],
                     target: bool = False) -> Dict[int, Feats]:
        """Encode the views ``indices``; same-size views share one forward
        when ``batch_views``. Returns ``{view index: feature maps}``."""
        groups: Dict[tuple, List[int]] = {}
        for k in indices:
            key = tuple(views[k].shape[1:]) if self.batch_views else (k, )
            groups.setdefault(key, []).append(k)
        out: Dict[int, Feats] = {}
        for ks in groups.values():
            feats = self.encode(torch.cat([views[k] for k in ks]), target)
            for k, part in zip(ks, zip(*(f.chunk(len(ks)) for f in feats))):
                out[k] = part
        return out

    def pool_regions(self,
                     feats: Feats,
                     boxes: Tensor,
                     levels: Optional[Tensor] = None,
                     img_shape: Optional[Tuple[int, int]] = None) -> Tensor:
        """RoIAlign of ``[N, M, 4]`` view boxes: ``[N, P*M, C, S, S]`` (all
        levels, level-major) or ``[N, M, C, S, S]`` (``levels`` given);
        ``img_shape`` = view ``(h, w)`` maps boxes by ``feat / img`` size
        instead of ``1 / stride`` (see ``MultiLevelRoIPool``)."""
        if self.roi_pool is None:
            raise RuntimeError(f'{type(self).__name__} has no roi_pool')
        return self.roi_pool(feats, boxes, levels, img_shape)

    def embed_rois(self,
                   rois: Tensor,
                   target: bool = False,
                   groups: Optional[SlotGroups] = None) -> Tensor:
        """``[N, R, C, S, S]`` RoIs -> ``[N, R, D]``: roi_head, projector
        and, online only, predictor, for all ``N*R`` RoIs in one batch.

        Args:
            rois (Tensor): ``[N, R, C, S, S]`` pooled regions.
            target (bool): Use the target modules (no predictor).
            groups (SlotGroups, optional): BatchNorm statistics per group
                of slots (:func:`~mmalfm.models.utils.grouped_bn_stats`),
                as a loop calling these modules once per group would have
                them; None: one group (statistics span all ``N*R`` RoIs).
        """
        net = self.target if target else self
        projector = getattr(net, 'projector', None)
        predictor = None if target else self.predictor

        def embed(x: Tensor) -> Tensor:
            x = net.roi_head(x)
            if projector is not None:
                x = _last(projector((x, )))
            if predictor is not None:
                x = _last(predictor((x, )))
            return x

        n, r = rois.shape[:2]
        if groups is None or groups.num_groups == 1:
            return embed(rois.flatten(0, 1)).reshape(n, r, -1)
        with grouped_bn_stats([net.roi_head, projector, predictor],
                              groups.sizes(n)):
            out = embed(groups.to_rows(rois))
        return groups.from_rows(out, n)

    # ----------------------------------------------------------- the hooks
    def online_views(self, batch: RegionBatch) -> List[int]:
        """Views encoded by the online network (default: all)."""
        return list(range(batch.num_views))

    def target_views(self, batch: RegionBatch) -> List[int]:
        """Views encoded by the target network (default: all)."""
        if self.target_net is None:
            return []
        return list(range(batch.num_views))

    @abstractmethod
    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        """The method's losses (``{'loss_<term>': Tensor}``; other keys are
        logged, not summed) and the step's health tensors."""

    # ---------------------------------------------------------------- step
    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """One training forward (see the module docstring).

        Args:
            inputs (list[Tensor]): ``K`` views, each ``[N, C, h_k, w_k]``.
            data_samples (list[DataSample]): ``N`` samples with metainfo
                ``view_geometry`` (and ``regions``).

        Returns:
            dict[str, Tensor]: The loss terms.
        """
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f'{type(self).__name__} expects the list of views'
                            ' (MultiViewCrop + PackMultiViewInputs), got '
                            f'{type(inputs).__name__}')
        views = list(inputs)
        batch = RegionBatch.build(views, data_samples)
        online = self.encode_views(views, self.online_views(batch))
        self.update_target()
        with torch.no_grad():
            target = self.encode_views(
                views, self.target_views(batch), target=True)
        losses, health = self.region_losses(online, target, batch)
        publish_health(health)
        return losses
