# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR (methods.md §3)."""

__all__ = []
