# Copyright (c) mmalfm contributors. All rights reserved.
"""Res5 shared head with the extra norm of detectron2 Res5ROIHeadsExtraNorm."""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmdet.models.roi_heads.shared_heads import ResLayer

from mmalfm.registry import MODELS

__all__ = ['ResLayerExtraNorm']


@MODELS.register_module()
class ResLayerExtraNorm(ResLayer):
    """MMDetection's C4 shared head (res5) followed by one more norm layer.

    The C4 protocol of MoCo (used by SoCo, CrossCL and DetCo for COCO R50-C4
    and VOC) fine-tunes with detectron2's ``Res5ROIHeadsExtraNorm``, which
    appends a norm layer (SyncBN) to the res5 sequence, because the last
    bottleneck's output is otherwise un-normalised while every other stage of
    the SyncBN backbone is. MMDetection has no such head, so we append the
    norm to :class:`mmdet.models.roi_heads.shared_heads.ResLayer`'s stage
    the same way: parameters ``layer4.{0,1,2}.*`` are those of mmdet's
    ``ResLayer`` (an export's ``roi_head.shared_head.layer4.*`` loads
    unchanged) and the norm is ``layer4.norm.*`` (detectron2 ``res5.norm``),
    initialised to weight 1 / bias 0 and never pretrained.

    Args:
        extra_norm_cfg (dict, optional): The extra norm. Defaults to
            ``norm_cfg``.
        *args, **kwargs: :class:`mmdet.models.roi_heads.shared_heads.ResLayer`
            arguments (``depth``, ``stage``, ``norm_cfg``, ``norm_eval``...).

    Shapes:
        ``forward(x)``: ``[R, C_in, H, W] -> [R, C_out, ceil(H / s),
        ceil(W / s)]`` with ``C_in = 64 * 2**(stage - 1) * expansion``,
        ``C_out = 64 * 2**stage * expansion`` (2048 for R50 res5) and the
        stage stride ``s`` (2).
    """

    def __init__(self,
                 *args,
                 extra_norm_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        layer = getattr(self, f'layer{self.stage + 1}')
        # The stage's output channels: its last block's last conv (BasicBlock
        # conv2 / Bottleneck conv3; mmdet's ResLayer does not store them).
        out_channels = [
            m for m in layer[-1].modules() if isinstance(m, nn.Conv2d)
        ][-1].out_channels
        _, norm = build_norm_layer(extra_norm_cfg or self.norm_cfg,
                                   out_channels)
        layer.add_module('norm', norm)
