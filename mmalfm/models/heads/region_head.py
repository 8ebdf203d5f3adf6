# Copyright (c) mmalfm contributors. All rights reserved.
"""The contract between :class:`RegionSelfSupervisor` and its heads.

A head owns what only pretraining needs (projectors, predictors,
prototypes) and its loss, as MMPretrain's heads do. The algorithm owns the
trunk a detector reuses (``backbone``, ``neck``, ``roi_head``: MMDetection's
names, so the export needs no renaming) and loops over its heads::

    for name, head in algorithm.heads.items():
        losses, health = head.loss(HeadInputs(...))

A head says which views it needs (:meth:`BaseRegionHead.online_views`,
:meth:`BaseRegionHead.target_views`), which of its sub-modules the EMA
target copies (:attr:`BaseRegionHead.target_parts`) and whether it reads
the neck's maps or only the last backbone stage
(:attr:`BaseRegionHead.uses_maps`). Mixing heads is a config choice, e.g. a
SoCo region head next to a GMSR global head
(docs/advanced_guides/heads.md).
"""
from abc import abstractmethod
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from mmengine.model import BaseModule, ModuleDict
from torch import Tensor, nn

from mmalfm.registry import MODELS
from mmalfm.structures import RegionBatch
from ..utils.health import StepHealth

__all__ = ['Feats', 'HeadInputs', 'BaseRegionHead', 'build_heads']

#: One view's encoding: ``(*maps, last backbone stage)``; ``maps`` are the
#: neck's outputs (or the backbone's without a neck), empty when no head
#: reads them.
Feats = Tuple[Tensor, ...]


@dataclass
class HeadInputs:
    """What one training step gives every head.

    Attributes:
        online (dict[int, Feats]): Online encodings of the views the heads
            asked for, ``{view index: (*maps, last stage)}``.
        target (dict[int, Feats]): EMA-target encodings (no grad).
        batch (RegionBatch): Everything the data decided.
        roi_head (nn.Module, optional): The trunk's online RoI head.
        target_roi_head (nn.Module, optional): Its EMA copy.
        target_parts (nn.Module, optional): The EMA copy of this head's
            :attr:`BaseRegionHead.target_parts`, keyed like the head (e.g.
            ``target_parts.embedding.projector``); None without a target.
    """
    online: Dict[int, Feats]
    target: Dict[int, Feats]
    batch: RegionBatch
    roi_head: Optional[nn.Module] = None
    target_roi_head: Optional[nn.Module] = None
    target_parts: Optional[nn.Module] = None


class BaseRegionHead(BaseModule):
    """A head of a :class:`RegionSelfSupervisor`: parts, views and loss.

    Subclasses implement :meth:`loss`; they override :meth:`online_views`
    / :meth:`target_views` (default: every view / none) and set
    :attr:`target_parts` and :attr:`uses_maps`.
    """

    #: Dotted paths of the sub-modules the EMA target copies (those that
    #: are not None), e.g. ``('embedding.projector', )``.
    target_parts: Tuple[str, ...] = ()
    #: Whether the head reads the neck's maps (False: only the last
    #: backbone stage, e.g. a global head on C5).
    uses_maps: bool = True

    @property
    def needs_target(self) -> bool:
        """Whether the head reads an EMA target."""
        return bool(self.target_parts)

    def bind_trunk(self, backbone: nn.Module,
                   neck: Optional[nn.Module]) -> None:
        """Build the parts whose shapes depend on the trunk (e.g. one MLP
        per backbone level); called once, right after the head is built,
        so that parameters are created in config order. Default: nothing.
        """

    def online_views(self, batch: RegionBatch) -> List[int]:
        """Views the online network encodes for this head (checked here:
        a batch without what the head needs raises, naming the fix)."""
        return list(range(batch.num_views))

    def target_views(self, batch: RegionBatch) -> List[int]:
        """Views the EMA target encodes for this head."""
        return []

    @abstractmethod
    def loss(self, inputs: HeadInputs) -> Tuple[Dict[str, Tensor],
                                                StepHealth]:
        """The head's loss terms (``{'loss_<term>': Tensor}``; other keys
        are logged, not summed) and its health tensors."""


def build_heads(cfgs: Optional[Dict[str, Optional[dict]]],
                backbone: nn.Module, neck: Optional[nn.Module],
                target_ema: Optional[dict]) -> ModuleDict:
    """Build ``model.heads`` in config order (a None value: head off),
    each bound to the trunk right away.

    Returns MMEngine's ``ModuleDict`` (``init_weights`` reaches the heads).

    Raises:
        TypeError: A head is no :class:`BaseRegionHead`.
        ValueError: A head reads an EMA target but ``target_ema`` is None.
    """
    heads = ModuleDict()
    for name, cfg in (cfgs or {}).items():
        if cfg is None:
            continue
        head = MODELS.build(cfg)
        if not isinstance(head, BaseRegionHead):
            raise TypeError(f'model.heads.{name}: {type(head).__name__} is '
                            'not a BaseRegionHead')
        head.bind_trunk(backbone, neck)
        if head.needs_target and target_ema is None:
            raise ValueError(f'model.heads.{name} reads an EMA target: set '
                             'model.target_ema')
        heads[name] = head
    return heads
