# Copyright (c) mmalfm contributors. All rights reserved.
from .data_seed import PerSampleSeedHook
from .representation_health import RepresentationHealthHook

__all__ = ['PerSampleSeedHook', 'RepresentationHealthHook']
