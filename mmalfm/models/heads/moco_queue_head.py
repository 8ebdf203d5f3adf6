# Copyright (c) mmalfm contributors. All rights reserved.
"""MoCo v2's global term with a key queue, shared by CrossCL and DUPR.

It is CrossCL's ``L_global`` (Yan et al., ICME 2023) and DUPR's global
branch (Ding et al., TPAMI 2024).
MMPretrain's ``MoCoV2`` keeps its queue inside the algorithm class and
hard-wires the rest of the step, so it cannot be composed with region terms;
this head holds only what is MoCo-specific beyond the MLP (the queue and the
loss), and the algorithm owns the global MLP (``MoCoV2Neck``) so that the
momentum encoder copies it with the rest of the online network.
"""
from torch import Tensor, nn

from mmalfm.registry import MODELS
from ..losses import InfoNCELoss
from ..utils import FeatureQueue

__all__ = ['MoCoQueueHead']


@MODELS.register_module()
class MoCoQueueHead(nn.Module):
    r"""InfoNCE of the global queries against their keys and a FIFO queue.

    ``loss = InfoNCE(q, k, negatives=queue)`` with the positive at logit 0
    (MoCo v2), then the keys are all-gathered (``gather``) and enqueued, in
    that order: the current batch's keys are never its own negatives. The
    queue is a :class:`~mmalfm.models.utils.FeatureQueue` (``queue.queue``
    ``[queue_len, feat_dim]`` and ``queue.ptr`` are buffers: checkpointed
    and restored on resume).

    Args:
        feat_dim (int): Embedding dimension ``D``. Defaults to 128.
        queue_len (int): Queue length (MoCo v2: 65536).
        temperature (float): ``T``. Defaults to 0.2.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        gather (bool): All-gather the keys before enqueueing (MoCo).
            Defaults to True; a no-op in a single process.
    """

    def __init__(self,
                 feat_dim: int = 128,
                 queue_len: int = 65536,
                 temperature: float = 0.2,
                 loss_weight: float = 1.0,
                 gather: bool = True) -> None:
        super().__init__()
        self.queue = FeatureQueue(feat_dim, queue_len)
        self.loss = InfoNCELoss(
            temperature=temperature, loss_weight=loss_weight)
        self.gather = gather

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        """Loss of this step, then enqueue ``k``.

        Args:
            q (Tensor): ``[N, D]`` online (query) embeddings.
            k (Tensor): ``[N, D]`` momentum (key) embeddings, no gradient
                expected (they are detached before enqueueing anyway).

        Returns:
            Tensor: fp32 scalar loss.
        """
        loss = self.loss(q, k, self.queue())
        self.queue.enqueue(k, gather=self.gather)
        return loss
