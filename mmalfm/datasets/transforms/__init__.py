# Copyright (c) mmalfm contributors. All rights reserved.
from .cutout import RegionCutout
from .formatting import PackMultiViewInputs
from .loading import CorruptImageError, LoadImageWithCheck
from .multi_view import MultiViewCrop, ViewPipelines
from .samplers import (ALFMRegionSampler, CrossCLWindowSampler,
                       DUPRGridSampler, SoCoRegionSampler)

__all__ = [
    'CorruptImageError', 'LoadImageWithCheck', 'MultiViewCrop',
    'ViewPipelines', 'PackMultiViewInputs', 'SoCoRegionSampler',
    'CrossCLWindowSampler', 'DUPRGridSampler', 'ALFMRegionSampler',
    'RegionCutout'
]
