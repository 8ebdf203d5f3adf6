# Copyright (c) mmalfm contributors. All rights reserved.
from .soco_lars import SoCoLARS

__all__ = ['SoCoLARS']
