# Copyright (c) mmalfm contributors. All rights reserved.
from .base import RegionBatch, RegionSelfSupervisor
from .soco import SoCo

__all__ = ['RegionBatch', 'RegionSelfSupervisor', 'SoCo']
