# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL's partial FPN with detectron2 names (Yan et al., ICME 2023)."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmalfm.registry import MODELS

__all__ = ['PartialFPN']

_NAMES = ('fpn_lateral3', 'fpn_lateral4', 'fpn_lateral5', 'fpn_output3',
          'fpn_output4')


@MODELS.register_module()
class PartialFPN(BaseModule):
    """Top-down FPN over C3-C5 that outputs only P3 and P4 (CrossCL).

    ::

        m5 = fpn_lateral5(C5)                    # 1x1, bias
        m4 = fpn_lateral4(C4) + up(m5);  P4 = fpn_output4(m4)   # 3x3, bias
        m3 = fpn_lateral3(C3) + up(m4);  P3 = fpn_output3(m3)

    ``up`` is nearest-neighbour resizing to the lateral's size, which is
    exactly ``scale_factor=2`` nearest (detectron2) whenever the sizes are
    exactly 2x apart (always for ResNet on even-sized inputs), and
    mmdet's ``size=`` behaviour otherwise (odd sizes no longer crash). No
    norm, no activation, no P2, no P5 output conv, no P6. Weights are
    ``kaiming_uniform_(a=1)`` (detectron2 ``c2_xavier_fill``), biases 0;
    the init is done in ``__init__`` (``init_weights`` with
    ``init_cfg=None`` leaves it untouched).

    **Export.** Parameter names are the detectron2 FPN names, so the
    detectron2 export is a pure prefix rename (:meth:`detectron2_key_map`,
    e.g. ``neck.fpn_lateral3.weight`` -> ``backbone.fpn_lateral3.weight``).
    For MMDetection's ``FPN`` see :meth:`mmdet_key_map`:
    ``fpn_lateral{3,4,5}`` <-> ``lateral_convs.{i, i+1, i+2}.conv`` and
    ``fpn_output{3,4}`` <-> ``fpn_convs.{i, i+1}.conv`` with ``i = 0`` for
    ``FPN(in_channels=[256, 512, 1024, 2048], start_level=1)`` (or C3-C5
    inputs) and ``i = 1`` for the usual ``start_level=0`` Mask R-CNN neck.
    When the downstream FPN has a norm (SyncBN, bias-free ``ConvModule``)
    the pretrained biases must be dropped (``with_bias=False``) and the norms
    start fresh.

    Args:
        in_channels (Sequence[int]): Channels of C3, C4, C5. Defaults to
            ``(512, 1024, 2048)`` (ResNet-50, ``out_indices=(1, 2, 3)``).
        out_channels (int): FPN width. Defaults to 256.
        init_cfg (dict | list[dict], optional): MMEngine init config (e.g.
            ``Pretrained``). Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 2048),
                 out_channels: int = 256,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 3:
            raise ValueError(f'PartialFPN takes exactly C3, C4, C5: '
                             f'in_channels={tuple(in_channels)}')
        self.in_channels = tuple(in_channels)
        self.out_channels = out_channels
        c3, c4, c5 = self.in_channels
        self.fpn_lateral3 = nn.Conv2d(c3, out_channels, 1)
        self.fpn_lateral4 = nn.Conv2d(c4, out_channels, 1)
        self.fpn_lateral5 = nn.Conv2d(c5, out_channels, 1)
        self.fpn_output3 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.fpn_output4 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.reset_fpn_parameters()

    def reset_fpn_parameters(self) -> None:
        """detectron2 ``c2_xavier_fill``: kaiming_uniform(a=1), bias 0."""
        for name in _NAMES:
            conv = getattr(self, name)
            nn.init.kaiming_uniform_(conv.weight, a=1)
            nn.init.constant_(conv.bias, 0)

    @staticmethod
    def _up(x: Tensor, like: Tensor) -> Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode='nearest')

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Run the top-down path.

        Args:
            inputs (Sequence[Tensor]): ``(C3 [B, c3, H/8, W/8],
                C4 [B, c4, H/16, W/16], C5 [B, c5, H/32, W/32])``.

        Returns:
            tuple[Tensor, Tensor]: ``(P3 [B, out, H/8, W/8],
            P4 [B, out, H/16, W/16])`` (224 px: 28x28 and 14x14).
        """
        if len(inputs) != 3:
            raise ValueError(f'PartialFPN expects (C3, C4, C5), got '
                             f'{len(inputs)} maps')
        c3, c4, c5 = inputs
        m5 = self.fpn_lateral5(c5)
        lat4 = self.fpn_lateral4(c4)
        m4 = lat4 + self._up(m5, lat4)
        p4 = self.fpn_output4(m4)
        lat3 = self.fpn_lateral3(c3)
        m3 = lat3 + self._up(m4, lat3)
        p3 = self.fpn_output3(m3)
        return p3, p4

    @staticmethod
    def detectron2_key_map(prefix: str = '') -> Dict[str, str]:
        """Our parameter names -> detectron2 ``backbone.fpn_*`` names.

        Args:
            prefix (str): Prefix of our names in the checkpoint (e.g.
                ``'neck.'``). Defaults to ''.

        Returns:
            dict[str, str]: 10 entries (weight and bias of 5 convs).
        """
        return {
            f'{prefix}{n}.{p}': f'backbone.{n}.{p}'
            for n in _NAMES for p in ('weight', 'bias')
        }

    @staticmethod
    def mmdet_key_map(c3_index: int = 0,
                      with_bias: bool = True,
                      prefix: str = '',
                      target_prefix: str = 'neck.') -> Dict[str, str]:
        """Our parameter names -> MMDetection ``FPN`` names.

        Args:
            c3_index (int): Index of C3's lateral in mmdet's
                ``lateral_convs`` (0 for ``start_level=1`` over C2-C5 or for
                C3-C5 inputs; 1 for ``start_level=0`` over C2-C5).
                Defaults to 0.
            with_bias (bool): Include biases; ``False`` when the downstream
                FPN has a norm (its convs have no bias). Defaults to True.
            prefix (str): Prefix of our names. Defaults to ''.
            target_prefix (str): Prefix of the mmdet names. Defaults to
                ``'neck.'``.

        Returns:
            dict[str, str]: e.g. ``fpn_lateral3.weight`` ->
            ``neck.lateral_convs.0.conv.weight``.
        """
        pairs = {
            'fpn_lateral3': f'lateral_convs.{c3_index}',
            'fpn_lateral4': f'lateral_convs.{c3_index + 1}',
            'fpn_lateral5': f'lateral_convs.{c3_index + 2}',
            'fpn_output3': f'fpn_convs.{c3_index}',
            'fpn_output4': f'fpn_convs.{c3_index + 1}',
        }
        params = ('weight', 'bias') if with_bias else ('weight', )
        return {
            f'{prefix}{ours}.{p}': f'{target_prefix}{theirs}.conv.{p}'
            for ours, theirs in pairs.items() for p in params
        }
