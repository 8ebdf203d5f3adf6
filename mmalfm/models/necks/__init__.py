# Copyright (c) mmalfm contributors. All rights reserved.
from .partial_fpn import PartialFPN

__all__ = ['PartialFPN']
