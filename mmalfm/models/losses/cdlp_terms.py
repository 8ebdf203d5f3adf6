# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM's CDLP terms: id-matched soft-label distillation between sets."""
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..utils.correspondence import match_ids, take_rows

__all__ = ['distill_matched', 'cdlp_terms']


def distill_matched(loss: nn.Module, teacher: Tensor, ids_t: Tensor,
                    student: Tensor, ids_s: Tensor) -> Tuple[Tensor, Tensor]:
    """Mean loss of the student rows to their id-matched teacher rows.

    Args:
        loss (nn.Module): ``SoftLabelDistillationLoss`` (student ``[R, K]``,
            teacher ``[R, K]``, valid ``[R]``).
        teacher (Tensor): ``[N, T, K]`` teacher logits; ids ``[N, T]``.
        student (Tensor): ``[N, S, K]`` student logits; ids ``[N, S]``.

    Returns:
        tuple: the loss and the per-image number of matched rows ``[N]``.
    """
    index, valid = match_ids(ids_t, ids_s)
    k = student.shape[-1]
    value = loss(student.reshape(-1, k),
                 take_rows(teacher, index).reshape(-1, k), valid.reshape(-1))
    return value, valid.sum(dim=1)


def cdlp_terms(loss: nn.Module, student: Dict[int, Tensor],
               teacher: Dict[int, Tensor], ids: Dict[int, Tensor],
               pairs: Sequence[Tuple[int, int]], pair_sets: List[int],
               local_sets: List[int], teacher_view: str,
               cross_view: bool) -> Dict[str, Tensor]:
    """``loss_cdlp_local`` and ``loss_cdlp_cross`` of ALFM.

    Local: with ``teacher_view='global'`` the teacher labels each pair set
    and the student predicts them from the local patches (all local sets
    together); ``'local'`` swaps the roles. Cross: for every pair ``(a,
    b)`` both directions, teacher on one side, student on the other. Each
    term is the mean over its (teacher side, student side) terms.

    Args:
        student, teacher (dict[int, Tensor]): Logits ``[N, M_s, K]`` by set.
        ids (dict[int, Tensor]): Region ids ``[N, M_s]`` by set.
    """
    out: Dict[str, Tensor] = {}
    if local_sets:
        ids_l = torch.cat([ids[s] for s in local_sets], dim=1)
        if teacher_view == 'global':
            s_l = torch.cat([student[s] for s in local_sets], 1)
            terms = [
                distill_matched(loss, teacher[t], ids[t], s_l, ids_l)[0]
                for t in pair_sets
            ]
        else:
            t_l = torch.cat([teacher[s] for s in local_sets], 1)
            terms = [
                distill_matched(loss, t_l, ids_l, student[s], ids[s])[0]
                for s in pair_sets
            ]
        out['loss_cdlp_local'] = sum(terms) / len(terms)
    if cross_view:
        terms = [
            distill_matched(loss, teacher[t], ids[t], student[s], ids[s])[0]
            for a, b in pairs for t, s in ((a, b), (b, a))
        ]
        out['loss_cdlp_cross'] = sum(terms) / len(terms)
    return out
