# Copyright (c) mmalfm contributors. All rights reserved.
"""RoI feature heads whose weights load into MMDetection's RoI heads.

Region-level pretraining (SoCo, ALFM) trains the detector's box head too, so
its parameter names must be the ones MMDetection loads:

* :class:`ConvFCRoIFeatureHead` is the shared trunk of mmdet's
  ``Shared4Conv1FCBBoxHead`` (``ConvFCBBoxHead`` with ``num_shared_convs=4,
  num_shared_fcs=1``): ``shared_convs.i`` are mmcv ``ConvModule``s
  (``.conv`` / ``.bn``) and ``shared_fcs.0`` an ``nn.Linear`` on the
  flattened ``C x S x S`` RoI feature, then ReLU. mmdet's class itself
  cannot be built without a classifier or regressor (``BBoxHead`` asserts
  ``with_cls or with_reg``) whose ``fc_cls``/``fc_reg`` would be dead weights
  in pretraining, so we build the same ``ConvModule``/``nn.Linear`` pieces
  under the same names, the same way (``ConvFCBBoxHead._add_conv_fc_branch``)
  and with the same initialisation (Xavier-uniform ``shared_fcs``).
* :class:`RegionRoIHead` is a container named like mmdet's
  ``StandardRoIHead``: ``bbox_head`` (FPN detectors) and/or
  ``shared_head`` (C4 detectors, mmdet's ``ResLayer`` -> ``layer4``). Held
  by an algorithm as ``roi_head``, its keys are exactly
  ``roi_head.bbox_head.shared_convs.*`` / ``roi_head.bbox_head.shared_fcs.*``
  or ``roi_head.shared_head.layer4.*``: the export needs no renaming.
"""
from typing import Optional

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmalfm.registry import MODELS

__all__ = ['ConvFCRoIFeatureHead', 'RegionRoIHead']


@MODELS.register_module()
class ConvFCRoIFeatureHead(BaseModule):
    """Shared convs + fcs of mmdet's ``ConvFCBBoxHead``, without predictors.

    ``x [R, C, S, S] -> convs (3x3, norm, ReLU) -> flatten -> (fc, ReLU)*``
    -> ``[R, fc_out_channels]`` (as ``ConvFCBBoxHead.forward`` up to its
    ``x_cls``). SoCo's head: 4 convs 256->256 with BN/SyncBN, fc 12544->1024.

    Args:
        num_shared_convs (int): 3x3 convs. Defaults to 4.
        num_shared_fcs (int): fc layers. Defaults to 1.
        in_channels (int): RoI feature channels. Defaults to 256.
        conv_out_channels (int): Conv channels. Defaults to 256.
        fc_out_channels (int): Fc width. Defaults to 1024.
        roi_feat_size (int): RoI side ``S``. Defaults to 7.
        conv_cfg (dict, optional): Conv config of the ``ConvModule``s.
        norm_cfg (dict, optional): Norm config (``dict(type='SyncBN')`` in
            SoCo; keys ``shared_convs.i.bn`` as in mmdet).
        init_cfg (dict, optional): Defaults to mmdet's Xavier-uniform on
            ``shared_fcs`` (convs: ``ConvModule``'s Kaiming init).
    """

    def __init__(self,
                 num_shared_convs: int = 4,
                 num_shared_fcs: int = 1,
                 in_channels: int = 256,
                 conv_out_channels: int = 256,
                 fc_out_channels: int = 1024,
                 roi_feat_size: int = 7,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='SyncBN'),
                 init_cfg: Optional[dict] = dict(
                     type='Xavier',
                     distribution='uniform',
                     override=[dict(name='shared_fcs')])) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_shared_convs + num_shared_fcs < 1:
            raise ValueError('ConvFCRoIFeatureHead needs a conv or an fc')
        self.shared_convs = nn.ModuleList([
            ConvModule(
                in_channels if i == 0 else conv_out_channels,
                conv_out_channels,
                3,
                padding=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg) for i in range(num_shared_convs)
        ])
        last = conv_out_channels if num_shared_convs else in_channels
        self.shared_fcs = nn.ModuleList([
            nn.Linear(last * roi_feat_size**2 if i == 0 else fc_out_channels,
                      fc_out_channels) for i in range(num_shared_fcs)
        ])
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = fc_out_channels if num_shared_fcs else \
            last * roi_feat_size**2

    def forward(self, x: Tensor) -> Tensor:
        """``[R, C, S, S]`` RoI features -> ``[R, out_channels]``."""
        for conv in self.shared_convs:
            x = conv(x)
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = self.relu(fc(x))
        return x


@MODELS.register_module()
class RegionRoIHead(BaseModule):
    """RoI features -> one vector per RoI, with mmdet ``StandardRoIHead`` /
    C4 ``shared_head`` parameter names.

    ``forward``: ``shared_head`` (e.g. ``mmdet.ResLayer`` = res5 of a C4
    detector), then ``bbox_head`` (e.g. :class:`ConvFCRoIFeatureHead`); a
    remaining spatial map is average-pooled (SoCo C4: res5 -> AvgPool 7x7 ->
    2048-d).

    Args:
        bbox_head (dict, optional): The box-head trunk.
        shared_head (dict, optional): The shared head (C4).
        zero_init_residual (bool): Zero the last norm (``norm3``/``norm2``)
            of every residual block of the shared head after
            initialisation (SoCo's zero-gamma res5; mmdet's ``ResLayer`` has
            no such option).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 bbox_head: Optional[dict] = None,
                 shared_head: Optional[dict] = None,
                 zero_init_residual: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.zero_init_residual = zero_init_residual
        if bbox_head is None and shared_head is None:
            raise ValueError('RegionRoIHead needs bbox_head or shared_head')
        if shared_head is not None:
            self.shared_head = MODELS.build(shared_head)
        if bbox_head is not None:
            self.bbox_head = MODELS.build(bbox_head)

    def init_weights(self) -> None:
        super().init_weights()
        if self.zero_init_residual and hasattr(self, 'shared_head'):
            for m in self.shared_head.modules():
                last = getattr(m, 'norm3', None) or (
                    getattr(m, 'norm2', None)
                    if hasattr(m, 'conv2') and not hasattr(m, 'conv3') else
                    None)
                if isinstance(last, nn.modules.batchnorm._BatchNorm):
                    nn.init.constant_(last.weight, 0)

    def forward(self, x: Tensor) -> Tensor:
        """``[R, C, S, S]`` -> ``[R, D]``."""
        if hasattr(self, 'shared_head'):
            x = self.shared_head(x)
        if hasattr(self, 'bbox_head'):
            x = self.bbox_head(x)
        if x.dim() == 4:
            x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return x
