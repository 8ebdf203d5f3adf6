# Copyright (c) mmalfm contributors. All rights reserved.
"""One patch MLP, one RoI pool and one key queue per feature level (DUPR).

The MLP config is a template without ``in_channels``; each level gets a
copy with the level's channels. The modules are built in this order
(MLPs, pools, queues), which fixes their random initialisation.
"""
import copy
from typing import Optional, Sequence, Tuple

from mmengine.model import ModuleList
from mmengine.registry import DefaultScope
from torch import nn

from .build import build_optional
from .feature_levels import KEY
from .negatives import FeatureQueue
from .roi_pool import MultiLevelRoIPool

__all__ = ['build_patch_levels']


def build_patch_levels(
    patch_neck: dict, roi_pool: Optional[dict], channels: Sequence[int],
    strides: Sequence[int], queue_len: int, key: str = KEY
) -> Tuple[nn.ModuleList, nn.ModuleList, nn.ModuleList]:
    """Per-level patch MLPs, one-level RoI pools and queues.

    Args:
        patch_neck (dict): MLP template without ``in_channels`` (e.g.
            ``NonLinearNeck(hid_channels=2048, out_channels=128,
            with_avg_pool=True)``); its ``out_channels`` (default 128) is
            the queues' key dimension.
        roi_pool (dict, optional): ``MultiLevelRoIPool`` arguments other
            than ``featmap_strides``.
        channels (Sequence[int]): Input channels ``C_l`` of each level.
        strides (Sequence[int]): Stride of each level.
        queue_len (int): Keys per queue.
        key (str): Config path of these arguments in the error messages.

    Returns:
        tuple: ``(necks, pools, queues)``, one entry per level each.
    """
    if 'in_channels' in patch_neck:
        raise ValueError(f'{key}patch_neck is a template: drop its '
                         'in_channels (set per level from '
                         f'{key}level_channels)')
    roi_pool = dict(roi_pool or {})
    if 'featmap_strides' in roi_pool:
        raise ValueError(f'{key}roi_pool.featmap_strides is not used by '
                         f'DUPR: set {key}level_strides')
    # MMEngine's ModuleList: the owner's init_weights reaches the MLPs
    with DefaultScope.overwrite_default_scope('mmalfm'):
        necks = ModuleList(
            build_optional(dict(copy.deepcopy(patch_neck), in_channels=c))
            for c in channels)
    pools = nn.ModuleList(
        MultiLevelRoIPool(**roi_pool, featmap_strides=(s, )) for s in strides)
    out_dim = int(patch_neck.get('out_channels', 128))
    queues = nn.ModuleList(
        FeatureQueue(out_dim, queue_len) for _ in channels)
    return necks, pools, queues
