# Copyright (c) mmalfm contributors. All rights reserved.
"""The health tensors of one training step, published, not cached.

Every region algorithm returns a :class:`StepHealth` next to its losses
(``region_losses``); ``RegionSelfSupervisor.loss`` publishes it, detached,
in MMEngine's :class:`~mmengine.logging.MessageHub` runtime info under
:data:`HEALTH_INFO_KEY` (not resumed: it never enters a checkpoint), where
``RepresentationHealthHook`` reads it after the step. Nothing is kept on
the model.

One schema for all methods:

- ``embeddings`` (Tensor ``[R, D]``, optional): the method's main online
  embeddings of the step (SoCo: region predictions; CrossCL: global
  queries); logged as ``<prefix>/std``, ... (the branch ``'embeddings'``
  of the collapse guard).
- ``branches`` (``Dict[str, Tensor [R_b, D_b]]``): online embeddings of
  the other branches by name (ALFM ``gmsr``/``cdlp``, CrossCL ``global``/
  ``p4``/``p3``, DUPR ``global``/``reid_<level>``); logged as
  ``<prefix>/<branch>/std``, ...
- ``pos_pairs`` (Tensor ``[N]`` or ``[N, ...]``, optional): matched
  positive region pairs per image of the batch, as counts ``[N]`` or a
  match mask whose dims after the first are summed (``num_pos`` = the mean
  per image).
- ``possible_pairs`` (Tensor ``[N]``, optional): pairs the matcher could
  have matched per image (``pos_frac`` = sum of ``pos_pairs`` / sum of
  these); None when the method has no such bound.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional

from mmengine.logging import MessageHub
from torch import Tensor

__all__ = ['HEALTH_INFO_KEY', 'StepHealth', 'publish_health']

#: MessageHub runtime-info key of the last step's :class:`StepHealth`.
HEALTH_INFO_KEY = 'representation_health'


@dataclass
class StepHealth:
    """Health tensors of one step (see the module docstring)."""
    embeddings: Optional[Tensor] = None
    branches: Dict[str, Tensor] = field(default_factory=dict)
    pos_pairs: Optional[Tensor] = None
    possible_pairs: Optional[Tensor] = None

    def merge(self, other: 'StepHealth') -> 'StepHealth':
        """Take ``other``'s fields where this one has none (the first head
        to report a field keeps it) and its branches; returns self."""
        for name in ('embeddings', 'pos_pairs', 'possible_pairs'):
            if getattr(self, name) is None:
                setattr(self, name, getattr(other, name))
        for key, value in other.branches.items():
            self.branches.setdefault(key, value)
        return self

    def detach(self) -> 'StepHealth':
        """A copy whose tensors hold no graph."""

        def d(t: Optional[Tensor]) -> Optional[Tensor]:
            return None if t is None else t.detach()

        return StepHealth(
            d(self.embeddings), {k: v.detach()
                                 for k, v in self.branches.items()},
            d(self.pos_pairs), d(self.possible_pairs))


def publish_health(health: StepHealth) -> None:
    """Put ``health`` (detached) in the current MessageHub's runtime info
    under :data:`HEALTH_INFO_KEY` (not resumed)."""
    MessageHub.get_current_instance().update_info(
        HEALTH_INFO_KEY, health.detach(), resumed=False)
