# Copyright (c) mmalfm contributors. All rights reserved.
"""CDLP prototype head (ALFM, methods.md §4.3)."""

__all__ = []
