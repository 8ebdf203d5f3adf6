# Copyright (c) mmalfm contributors. All rights reserved.
from .data_seed import PerSampleSeedHook
from .non_finite import NonFiniteCheckHook
from .representation_health import RepresentationHealthHook

__all__ = [
    'NonFiniteCheckHook', 'PerSampleSeedHook', 'RepresentationHealthHook'
]
