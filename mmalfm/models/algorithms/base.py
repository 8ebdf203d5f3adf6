# Copyright (c) mmalfm contributors. All rights reserved.
"""What SoCo, CrossCL, DUPR and ALFM share: :class:`RegionSelfSupervisor`.

One training step (:meth:`RegionSelfSupervisor.loss`)::

    views (K tensors) + data samples (view geometry, regions)
      -> batch   = RegionBatch.build(views, data_samples)   once, model device:
                   geometry [N, K], view shapes, region sets, pairs, local
                   sets, per-image counters
      -> online  = (*neck(backbone(view)), last stage)  views the heads ask
      -> target EMA update (once per iteration)         before any target use
      -> target  = EMA copy, no grad, train mode        views the heads ask
      -> for each head: losses, health = head.loss(HeadInputs)
      -> health published in MessageHub (models/utils/health.py)

The algorithm owns the trunk a detector reuses (``backbone``, ``neck``,
``roi_head``, with MMDetection's key names) and the EMA target; each head
(:class:`~mmalfm.models.heads.BaseRegionHead`) owns its pretraining-only
parts and its loss, so heads mix by config (docs/advanced_guides/heads.md).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.registry import DefaultScope
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from mmalfm.registry import MODELS
from mmalfm.structures import RegionBatch, RegionSetBatch
from ..heads.region_head import Feats, HeadInputs, build_heads
from ..utils import StepHealth, publish_health
from ..utils.build import build_optional as _build
from ..utils.ema_target import EMATargetMixin, mirror_modules
from ..utils.legacy_layout import LegacyLayout
from ..utils.retired_keys import reject_retired

__all__ = ['Feats', 'RegionBatch', 'RegionSetBatch', 'RegionSelfSupervisor']


def _rename_legacy_keys(module: 'RegionSelfSupervisor', state: dict,
                        prefix: str, *args) -> None:
    """Load-state-dict pre-hook: old checkpoint keys -> the heads'."""
    module.legacy.rename_state(state, prefix)


@MODELS.register_module()
class RegionSelfSupervisor(EMATargetMixin, BaseSelfSupervisor):
    """Shared base of the region-level self-supervised algorithms.

    The trunk is ``backbone`` [-> ``neck``] and ``roi_head`` (the
    detector's RoI head); ``heads`` are built by name (keys
    ``heads.<name>.*``) and :meth:`region_losses` collects their losses.
    The target is an EMA copy (``target_ema``, ``CosineEMA`` by default) of
    the trunk's :attr:`target_modules` and every head's ``target_parts``
    (keys ``target_net.module.<name>.*``), updated once per iteration
    before the target forward, in train mode, like MMPretrain's ``BYOL``;
    it is built only when a head reads it. A subclass
    declares :attr:`legacy` to read configs and checkpoints of the flat
    layout. Children are built in the ``mmalfm`` scope, so ``type=
    'mmalfm.SoCo'`` works in any other project's config.

    Args:
        backbone (dict): Backbone (e.g. ``mmdet.ResNet``).
        neck (dict, optional): Feature neck (e.g. ``mmdet.FPN``).
        roi_head (dict, optional): RoI feature head (``RegionRoIHead``),
            run by heads that embed regions.
        heads (dict): ``{name: head config}``, at least one head; a None
            value switches that head off (e.g. in a child config). None
            only with the flat layout's keys (:attr:`legacy`).
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

    #: Trunk modules copied into the EMA target (those that are not None).
    target_modules: Tuple[str, ...] = ('backbone', 'neck', 'roi_head')
    #: Where the flat layout's keys live now (None: no flat layout).
    legacy: Optional[LegacyLayout] = None
    #: The heads a config needs, for the error without any.
    heads_hint: str = '{name: dict(type=<a BaseRegionHead>, ...)}'

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 roi_head: Optional[dict] = None,
                 heads: Optional[Dict[str, Optional[dict]]] = None,
                 target_ema: Optional[dict] = dict(
                     type='CosineEMA', momentum=0.01, end_momentum=0.),
                 batch_views: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 **flat) -> None:
        if self.legacy is not None:
            heads = self.legacy.consume(type(self).__name__, heads, flat)
        reject_retired(type(self).__name__, flat)
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
            self.heads = build_heads(heads, self.backbone, self.neck,
                                     target_ema)
        if not self.heads:
            raise ValueError(f'{type(self).__name__} needs model.heads: '
                             f'{self.heads_hint}')
        self.with_maps = any(h.uses_maps for h in self.heads.values())
        if not any(h.needs_target for h in self.heads.values()):
            target_ema = None  # nothing reads a target: do not build one
        self.target_ema = target_ema
        self.target_net = None
        self.build_target()
        self.batch_views = batch_views
        self._ema_iter: Optional[int] = None
        if self.legacy is not None:
            self._register_load_state_dict_pre_hook(
                _rename_legacy_keys, with_module=True)

    def _online_modules(self) -> nn.ModuleDict:
        """The trunk's target modules and the heads' ``target_parts``."""
        modules = super()._online_modules()
        parts = nn.ModuleDict()
        for name, head in self.heads.items():
            mirror = mirror_modules(head, head.target_parts)
            if len(mirror):
                parts[name] = mirror
        if len(parts):
            modules['heads'] = parts
        return modules

    # ------------------------------------------------------------- features
    def encode(self, x: Tensor, target: bool = False) -> Feats:
        """``(*maps, last backbone stage)`` of a batch of images: the
        neck's maps (the backbone's without a neck; none when no head reads
        maps), then the last stage (:meth:`encode_views` splits each along
        dim 0)."""
        net = self.target if target else self
        stages = net.backbone(x)
        if not isinstance(stages, (tuple, list)):
            stages = (stages, )
        maps: Sequence[Tensor] = ()
        if self.with_maps:
            neck = getattr(net, 'neck', None)
            maps = neck(stages) if neck is not None else stages
        return tuple(maps) + (stages[-1], )

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

    # ----------------------------------------------------------- the hooks
    def online_views(self, batch: RegionBatch) -> List[int]:
        """Views encoded by the online network: those of the heads."""
        return sorted({v for h in self.heads.values()
                       for v in h.online_views(batch)})

    def target_views(self, batch: RegionBatch) -> List[int]:
        """Views encoded by the target network: those of the heads."""
        if self.target_net is None:
            return []
        return sorted({v for h in self.heads.values()
                       for v in h.target_views(batch)})

    def region_losses(self, online: Dict[int, Feats],
                      target: Dict[int, Feats], batch: RegionBatch
                      ) -> Tuple[Dict[str, Tensor], StepHealth]:
        """Every head's losses (``{'loss_<term>': Tensor}``; other keys are
        logged, not summed) and the step's merged health tensors."""
        losses: Dict[str, Tensor] = {}
        health = StepHealth()
        net = self.target if self.target_net is not None else {}
        parts = net['heads'] if 'heads' in net else {}
        for name, head in self.heads.items():
            out, head_health = head.loss(
                HeadInputs(online, target, batch, self.roi_head,
                           net['roi_head'] if 'roi_head' in net else None,
                           parts[name] if name in parts else None))
            clash = set(out) & set(losses)
            if clash:
                raise KeyError(f'model.heads.{name} logs {sorted(clash)}, '
                               'which another head logs too')
            losses.update(out)
            health.merge(head_health)
        return losses, health

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
