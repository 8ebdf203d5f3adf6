# Copyright (c) mmalfm contributors. All rights reserved.
from .roi_feature_head import ConvFCRoIFeatureHead, RegionRoIHead

__all__ = ['ConvFCRoIFeatureHead', 'RegionRoIHead']
