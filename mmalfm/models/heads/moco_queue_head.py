# Copyright (c) mmalfm contributors. All rights reserved.
"""MoCo v2 global InfoNCE with a key queue (CrossCL, DUPR)."""

__all__ = []
