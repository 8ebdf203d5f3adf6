# Copyright (c) mmalfm contributors. All rights reserved.
"""GMSR entropy losses (ALFM, methods.md §4.3). Filled by the ALFM work."""

__all__ = []
