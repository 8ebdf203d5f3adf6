# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM (methods.md §4)."""

__all__ = []
