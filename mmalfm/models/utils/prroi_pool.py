# Copyright (c) mmalfm contributors. All rights reserved.
"""Precise RoI pooling helpers (CrossCL, methods.md §2.4)."""

__all__ = []
