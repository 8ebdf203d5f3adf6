# Copyright (c) mmalfm contributors. All rights reserved.
"""InfoNCE with pluggable negative sets.

One loss for MoCo's global term (negatives = a :class:`~mmalfm.models.utils.
FeatureQueue`), CrossCL's four regional terms (negatives = dense key windows,
:func:`~mmalfm.models.utils.dense_window_negatives`) and DUPR's patch Re-ID
term (negatives = same-image gallery, :func:`~mmalfm.models.utils.
same_image_gallery`, *plus* the per-level queue -- pass both as a list).
"""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmalfm.registry import MODELS

__all__ = ['InfoNCELoss']

NegativeSets = Union[Tensor, Sequence[Tensor]]
NegativeMasks = Union[None, Tensor, Sequence[Optional[Tensor]]]


@MODELS.register_module()
class InfoNCELoss(nn.Module):
    r"""InfoNCE (MoCo cross-entropy) with the positive at logit index 0.

    For query ``q_i``, positive key ``k_i`` and negatives ``n_{i,1..M}``
    (all L2-normalised when ``normalize=True``)::

        logits_i = [q_i . k_i, q_i . n_{i,1}, ..., q_i . n_{i,M}] / T
        l_i      = CE(logits_i, target=0)
                 = -q_i.k_i / T
                   + log(exp(q_i.k_i / T) + sum_m exp(q_i.n_im / T))
        loss     = loss_weight * sum_{i valid} l_i / #valid

    i.e. ``F.cross_entropy(logits, labels, ignore_index=-1)`` with
    ``labels = 0`` for valid rows and ``-1`` for ignored ones (released
    CrossCL / MoCo). If no row is valid the loss is ``0`` and still part of
    the autograd graph (``backward`` gives zero gradients instead of NaN).

    **Negative sets.** ``negatives`` is one tensor or a list of tensors
    whose logits are concatenated (in list order) after the positive. Each
    set is either *shared* by every query, ``[M, C]`` (queue, dense windows),
    or *per query*, ``[N, M, C]`` (same-image gallery). DUPR's "gallery ∪
    queue" is ``negatives=[gallery, queue]`` -- no need to expand the queue
    per query. At least one negative in total is required.

    **Negative masks.** ``negative_mask`` (one tensor, or a list aligned with
    ``negatives`` holding ``None`` for unmasked sets) marks with ``True`` the
    negatives that take part -- same convention as ``valid``. Shape
    ``[N, M]`` (per query) or ``[M]`` (same for every query). Excluded
    negatives get a ``-inf`` logit, i.e. the loss equals the loss computed
    without them. A row whose negatives are all excluded has loss ``0``
    (only the positive remains).

    **Precision / gradients.** Inputs of any floating dtype (fp16/bf16 under
    AMP) are upcast; the logits, the loss and the returned scalar are fp32
    (autocast disabled inside). Nothing is detached: keys coming from a
    momentum encoder / queue carry no gradient anyway, and a caller that
    wants gradients through in-batch keys gets them.

    Args:
        temperature (float): ``T``; CrossCL / MoCo v2 / DUPR use 0.2.
            Defaults to 0.2.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        normalize (bool): L2-normalise query, positive and every negative
            along the channel dim inside the loss (idempotent for inputs that
            are already unit length). Set ``False`` only for pre-normalised
            inputs when the extra normalisation of a large queue matters.
            Defaults to True.
    """

    def __init__(self,
                 temperature: float = 0.2,
                 loss_weight: float = 1.0,
                 normalize: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.normalize = normalize

    def extra_repr(self) -> str:
        return (f'temperature={self.temperature}, '
                f'loss_weight={self.loss_weight}, normalize={self.normalize}')

    def _prep(self, x: Tensor) -> Tensor:
        x = x.float()
        return F.normalize(x, dim=-1) if self.normalize else x

    def _negative_logits(self, q: Tensor, negatives: NegativeSets,
                         negative_mask: NegativeMasks) -> Tensor:
        """``[N, M_total]`` unscaled logits of every negative set."""
        if negatives is None:
            raise ValueError('InfoNCELoss needs at least one negative: got '
                             'negatives=None')
        single = isinstance(negatives, Tensor)
        sets: List[Tensor] = [negatives] if single else list(negatives)
        if negative_mask is None:
            masks: List[Optional[Tensor]] = [None] * len(sets)
        elif isinstance(negative_mask, Tensor):
            if len(sets) != 1:
                raise ValueError('with several negative sets pass '
                                 'negative_mask as a list aligned with them '
                                 '(None for unmasked sets)')
            masks = [negative_mask]
        else:
            masks = list(negative_mask)
            if len(masks) != len(sets):
                raise ValueError(f'{len(masks)} negative masks for '
                                 f'{len(sets)} negative sets')
        n, c = q.shape
        logits = []
        for i, (neg, mask) in enumerate(zip(sets, masks)):
            if neg.dim() == 2:  # shared [M, C]
                if neg.shape[1] != c:
                    raise ValueError(f'negative set {i} {tuple(neg.shape)} '
                                     f'does not match query channels {c}')
                lg = q @ self._prep(neg).t()
            elif neg.dim() == 3:  # per query [N, M, C]
                if neg.shape[0] != n or neg.shape[2] != c:
                    raise ValueError(f'per-query negative set {i} '
                                     f'{tuple(neg.shape)} does not match '
                                     f'query {tuple(q.shape)}')
                lg = torch.bmm(self._prep(neg), q.unsqueeze(2)).squeeze(2)
            else:
                raise ValueError(f'negative set {i} must be [M, C] or '
                                 f'[N, M, C], got {tuple(neg.shape)}')
            if mask is not None:
                mask = mask.to(device=lg.device)
                if mask.dtype != torch.bool:
                    raise TypeError('negative_mask must be a bool tensor '
                                    '(True = negative takes part)')
                if mask.shape not in (lg.shape, lg.shape[1:]):
                    raise ValueError(f'negative_mask {tuple(mask.shape)} of '
                                     f'set {i} must be {tuple(lg.shape)} or '
                                     f'{tuple(lg.shape[1:])}')
                lg = lg.masked_fill(~mask.expand_as(lg), float('-inf'))
            logits.append(lg)
        out = torch.cat(logits, dim=1)
        if out.shape[1] == 0:
            raise ValueError('InfoNCELoss needs at least one negative: the '
                             'negative sets are empty')
        return out

    def forward(self,
                query: Tensor,
                positive: Tensor,
                negatives: NegativeSets,
                valid: Optional[Tensor] = None,
                negative_mask: NegativeMasks = None) -> Tensor:
        """Compute the loss.

        Args:
            query (Tensor): ``[N, C]`` online queries.
            positive (Tensor): ``[N, C]`` positive key of each query.
            negatives (Tensor | Sequence[Tensor]): one or several negative
                sets, each ``[M, C]`` (shared) or ``[N, M, C]`` (per query).
            valid (Tensor, optional): ``[N]`` bool, ``True`` for rows that
                count (CrossCL: ``labels >= 0``). Integer label tensors are
                rejected on purpose (``0`` means *valid* in CrossCL's labels
                but *invalid* as a 0/1 flag). Defaults to None (all valid).
            negative_mask (Tensor | Sequence[Tensor | None], optional): bool
                ``[N, M]`` or ``[M]`` per negative set, ``True`` = the
                negative takes part, ``False`` = ``-inf`` logit. Defaults to
                None (every negative takes part).

        Returns:
            Tensor: fp32 scalar loss.
        """
        if query.dim() != 2 or positive.shape != query.shape:
            raise ValueError(f'query and positive must both be [N, C], got '
                             f'{tuple(query.shape)} and '
                             f'{tuple(positive.shape)}')
        with torch.autocast(device_type=query.device.type, enabled=False):
            q = self._prep(query)
            k = self._prep(positive)
            l_pos = (q * k).sum(dim=1, keepdim=True)  # [N, 1]
            l_neg = self._negative_logits(q, negatives, negative_mask)
            logits = torch.cat([l_pos, l_neg], dim=1) / self.temperature
            # CE with target 0, per row
            per_row = torch.logsumexp(logits, dim=1) - logits[:, 0]
            if valid is None:
                return self.loss_weight * per_row.mean()
            if valid.dtype != torch.bool or valid.shape != (q.shape[0], ):
                raise ValueError(f'valid must be a bool tensor of shape '
                                 f'[{q.shape[0]}], got {valid.dtype} '
                                 f'{tuple(valid.shape)}')
            valid = valid.to(per_row.device)
            per_row = torch.where(valid, per_row, per_row.new_zeros(()))
            num = valid.sum().clamp(min=1).to(per_row.dtype)
            return self.loss_weight * per_row.sum() / num
