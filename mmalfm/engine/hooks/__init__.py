# Copyright (c) mmalfm contributors. All rights reserved.
from .representation_health import RepresentationHealthHook

__all__ = ['RepresentationHealthHook']
