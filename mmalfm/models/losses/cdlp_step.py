# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM's CDLP losses of one step, then the distillation centre update."""
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn

from .cdlp_terms import cdlp_terms

__all__ = ['cdlp_step']


def cdlp_step(loss: nn.Module, student: Dict[int, Tuple[Tensor, ...]],
              teacher: Dict[int, Tuple[Tensor, ...]], ids: Dict[int, Tensor],
              pairs: Sequence[Tuple[int, int]], pair_sets: List[int],
              local_sets: List[int], teacher_view: str,
              cross_view: bool) -> Dict[str, Tensor]:
    """:func:`cdlp_terms` on the heads' logits, then
    ``loss.update_center`` with the valid teacher logits of every teacher
    set (in ``teacher``'s order; a collective under DDP).

    Args:
        loss (nn.Module): ``SoftLabelDistillationLoss``.
        student, teacher (dict[int, tuple]): set -> ``(features, embeddings,
            logits [N, M_s, K])`` of the heads.
        ids (dict[int, Tensor]): set -> region ids ``[N, M_s]`` (``-1``:
            padding).
        pairs, pair_sets, local_sets, teacher_view, cross_view: As
            :func:`cdlp_terms`.

    Returns:
        dict: ``loss_cdlp_local`` and/or ``loss_cdlp_cross``.
    """
    out = cdlp_terms(loss, {s: o[2] for s, o in student.items()},
                     {s: o[2] for s, o in teacher.items()}, ids, pairs,
                     pair_sets, local_sets, teacher_view, cross_view)
    loss.update_center(
        torch.cat([o[2][ids[s] >= 0] for s, o in teacher.items()]))
    return out
