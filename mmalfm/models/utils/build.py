# Copyright (c) mmalfm contributors. All rights reserved.
"""Building optional sub-modules, checking which a method takes, and
reading neck-style outputs."""
from typing import Optional, Sequence

from torch import nn

from mmalfm.registry import MODELS

__all__ = ['build_optional', 'check_parts', 'first_output']


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


def check_parts(method: str, target_ema: Optional[dict], parts: dict,
                unused: Sequence[str]) -> None:
    """Build checks of a method with a momentum encoder that takes none of
    the ``unused`` base modules (e.g. CrossCL and DUPR: no RoI head,
    projector or predictor).

    Raises:
        ValueError: ``target_ema`` is None, or a config sets an unused part.
    """
    if target_ema is None:
        raise ValueError(f'{method} needs a momentum encoder: '
                         'model.target_ema must not be None')
    for key in unused:
        if parts.get(key) is not None:
            raise ValueError(f'{method} has no {key}: remove model.{key}')
