# Copyright (c) mmalfm contributors. All rights reserved.
"""Metrics of mmalfm (detection transfer benchmarks)."""

__all__ = []
