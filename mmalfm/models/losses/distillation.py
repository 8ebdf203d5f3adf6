# Copyright (c) mmalfm contributors. All rights reserved.
"""CDLP soft-label distillation (ALFM, methods.md §4.3)."""

__all__ = []
