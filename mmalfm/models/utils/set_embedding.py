# Copyright (c) mmalfm contributors. All rights reserved.
"""One head call over the RoIs of several region sets (ALFM's branches).

The sets of one branch call (e.g. the global-view region sets and the local
patches of the student) go through the RoI head (and a prototype head) as
one batch. Their BatchNorm statistics then span every set, as a detector's
box head normalises the RoIs of all levels in one call; with ``per_set_bn``
each set gets its own statistics (:func:`grouped_bn_stats`), equal to one
head call per set (docs/advanced_guides/grouped_bn.md).
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .grouped_bn import SlotGroups, grouped_bn_stats

__all__ = ['embed_region_sets']

SetOutputs = Tuple[Tensor, Optional[Tensor], Optional[Tensor]]


def embed_region_sets(roi_head: nn.Module, head: Optional[nn.Module],
                      rois: Sequence[Tensor],
                      per_set_bn: bool) -> List[SetOutputs]:
    """RoI head (+ ``head.embed``, ``head.classify``) of several sets.

    Args:
        roi_head (nn.Module): ``[R, C, S, S] -> [R, D]`` RoI feature head.
        head (nn.Module, optional): A head with ``embed`` (``[R, D] -> [R,
            E]``) and ``classify`` (``[R, E] -> [R, K]``), e.g.
            ``PrototypeHead``; None: features only.
        rois (Sequence[Tensor]): ``[N, M_s, C, S, S]`` RoIs of each set.
        per_set_bn (bool): BatchNorm statistics per set instead of over all
            the sets' RoIs.

    Returns:
        list[tuple]: Per set, ``(features [N, M_s, D], embeddings [N, M_s,
        E], logits [N, M_s, K])``, the last two None without ``head``.
    """
    sizes = [r.shape[1] for r in rois]
    x = torch.cat(list(rois), dim=1)
    n = x.shape[0]
    groups = None
    if per_set_bn and len(sizes) > 1:
        groups = SlotGroups(
            torch.arange(len(sizes)).repeat_interleave(torch.tensor(sizes)))

    def embed(rows: Tensor) -> List[Tensor]:
        feats = roi_head(rows)
        if head is None:
            return [feats]
        e = head.embed(feats)
        return [feats, e, head.classify(e)]

    if groups is None:
        outs = [o.reshape(n, sum(sizes), -1) for o in embed(x.flatten(0, 1))]
    else:
        with grouped_bn_stats([roi_head, head], groups.sizes(n)):
            outs = [groups.from_rows(o, n) for o in embed(groups.to_rows(x))]
    outs += [None] * (3 - len(outs))
    split = [
        o.split(sizes, dim=1) if o is not None else [None] * len(sizes)
        for o in outs
    ]
    return [tuple(part[i] for part in split) for i in range(len(sizes))]
