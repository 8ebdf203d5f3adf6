# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL (methods.md §2)."""

__all__ = []
