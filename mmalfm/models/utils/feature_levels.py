# Copyright (c) mmalfm contributors. All rights reserved.
"""Which feature maps a multi-level method reads: backbone stages or neck
outputs, with their names, channels and strides (DUPR's ``levels``)."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from torch import nn

__all__ = ['FeatureLevels', 'backbone_out_indices', 'resolve_levels']

#: Config path of DUPR's level arguments (its patch re-identification head).
KEY = 'model.heads.reid.'


@dataclass
class FeatureLevels:
    """Per level: index, log name, channels, stride, loss weight."""
    levels: List[int]
    names: List[str]
    channels: List[int]
    strides: List[int]
    weights: List[float]


def backbone_out_indices(backbone: nn.Module) -> Tuple[int, ...]:
    """The backbone's ``out_indices`` (stage indices, ``0`` = C2)."""
    out = getattr(backbone, 'out_indices', None)
    if out is None:
        raise ValueError(f'the model needs a backbone with out_indices (e.g. '
                         f'mmdet.ResNet), got {type(backbone).__name__}')
    return tuple(int(i) for i in out)


def _check_levels(backbone: nn.Module, neck: Optional[nn.Module],
                  levels: List[int], key: str) -> None:
    """Every level must be an output of the backbone (or the neck)."""
    if neck is not None:
        num = getattr(neck, 'num_outs', None)
        bad = [lv for lv in levels
               if lv < 0 or (num is not None and lv >= num)]
        if bad:
            raise ValueError(
                f'{key}levels={levels} names neck outputs {bad} but '
                f'model.neck ({type(neck).__name__}) has num_outs={num}: '
                f'use indices 0..{num - 1} (P2 = 0 for an FPN with '
                'start_level=0)')
        return
    out = backbone_out_indices(backbone)
    bad = [lv for lv in levels if lv not in out]
    if bad:
        raise ValueError(
            f'{key}levels={levels} names backbone stages {bad} that the '
            f'backbone does not output (model.backbone.out_indices={out}); '
            'add them to out_indices or remove them from levels (0 = C2, '
            '1 = C3, 2 = C4, 3 = C5)')


def _infer_channels(backbone: nn.Module, neck: Optional[nn.Module],
                    levels: List[int], key: str) -> List[int]:
    if neck is not None:
        c = getattr(neck, 'out_channels', None)
        if c is None:
            raise ValueError(f'set {key}level_channels: cannot infer the '
                             f'channels of {type(neck).__name__}')
        return [int(c)] * len(levels)
    base = getattr(backbone, 'base_channels', None)
    block = getattr(backbone, 'block', None)
    if base is None or block is None:
        raise ValueError(f'set {key}level_channels: cannot infer the stage '
                         f'channels of {type(backbone).__name__}')
    return [int(base * 2**lv * block.expansion) for lv in levels]


def resolve_levels(backbone: nn.Module,
                   neck: Optional[nn.Module],
                   levels: Sequence[int],
                   names: Optional[Sequence[str]] = None,
                   channels: Optional[Sequence[int]] = None,
                   strides: Optional[Sequence[int]] = None,
                   weights: Optional[Sequence[float]] = None,
                   key: str = KEY) -> FeatureLevels:
    """Check ``levels`` and fill the per-level defaults.

    Without a neck, ``levels`` are backbone stage indices (names ``c<i+2>``,
    stride ``2**(i+2)``, ResNet channels ``base_channels * 2**i *
    expansion``); with one, neck output indices (names ``p<j+s+2>``, stride
    ``2**(j+s+2)`` for the neck's ``start_level`` ``s``, its
    ``out_channels``). Weights default to 1. ``key`` is the config path
    of the level arguments in the error messages.

    Raises:
        ValueError: A level the backbone/neck does not give, or a per-level
            list of the wrong length (naming the config key).
    """
    levels = [int(lv) for lv in levels]
    if not levels:
        raise ValueError(f'{key}levels must name at least one level')
    _check_levels(backbone, neck, levels, key)
    shift = 2 + (int(getattr(neck, 'start_level', 0)) if neck else 0)
    prefix = 'p' if neck is not None else 'c'
    out = FeatureLevels(
        levels=levels,
        names=list(names or [f'{prefix}{lv + shift}' for lv in levels]),
        channels=list(channels or _infer_channels(backbone, neck, levels,
                                                    key)),
        strides=list(strides or [2**(lv + shift) for lv in levels]),
        weights=[float(w) for w in (weights or [1.] * len(levels))])
    for name in ('names', 'channels', 'strides', 'weights'):
        if len(getattr(out, name)) != len(levels):
            raise ValueError(f'{key}level_{name} has '
                             f'{len(getattr(out, name))} entries but '
                             f'{key}levels={levels} has {len(levels)}')
    return out
