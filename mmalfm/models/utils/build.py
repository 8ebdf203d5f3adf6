# Copyright (c) mmalfm contributors. All rights reserved.
"""Building optional sub-modules and reading neck-style outputs."""
from typing import Optional

from torch import nn

from mmalfm.registry import MODELS

__all__ = ['build_optional', 'first_output']


def build_optional(cfg, default: Optional[dict] = None):
    """Build ``cfg`` (or ``default`` if None) in the MODELS registry; pass
    modules and None through."""
    if cfg is None:
        cfg = default
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    if default is not None and 'type' not in cfg:
        cfg = dict(default, **cfg)
    return MODELS.build(cfg)


def first_output(out):
    """First element of a neck-style tuple output, else the output."""
    return out[0] if isinstance(out, (tuple, list)) else out
