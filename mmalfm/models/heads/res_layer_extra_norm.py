# Copyright (c) mmalfm contributors. All rights reserved.
"""Res5 shared head with the extra norm of detectron2 Res5ROIHeadsExtraNorm."""

__all__ = []
