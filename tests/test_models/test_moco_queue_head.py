# Copyright (c) mmalfm contributors. All rights reserved.
"""MoCoQueueHead: InfoNCE against the queue *before* enqueueing the keys."""
import math

import pytest
import torch

from mmalfm.models import MoCoQueueHead
from mmalfm.registry import MODELS


def _unit(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_loss_hand_computed_then_keys_enqueued():
    head = MoCoQueueHead(feat_dim=2, queue_len=3, temperature=0.5)
    head.queue.queue.copy_(_unit([0., 1.], [-1., 0.], [0., -1.]))
    q = _unit([1., 0.])
    k = _unit([1., 0.])
    # logits / T = [1, 0, -1, 0] / 0.5 -> CE(target 0)
    expected = -2. + math.log(math.exp(2.) + 1. + math.exp(-2.) + 1.)
    loss = head(q, k)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # the key went to row 0 after the loss was computed
    assert torch.equal(head.queue.queue[0], k[0])
    assert head.queue.ptr.item() == 1


def test_queue_is_in_the_state_dict_and_wraps():
    head = MODELS.build(
        dict(type='MoCoQueueHead', feat_dim=2, queue_len=3, gather=False))
    assert set(head.state_dict()) == {'queue.queue', 'queue.ptr'}
    for _ in range(2):
        head(_unit([1., 0.], [0., 1.]), _unit([1., 0.], [0., 1.]))
    assert head.queue.ptr.item() == (2 + 2) % 3


def test_gradient_reaches_queries_only():
    head = MoCoQueueHead(feat_dim=2, queue_len=4)
    q = torch.randn(3, 2, requires_grad=True)
    k = torch.randn(3, 2)
    head(q, k).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert not head.queue.queue.requires_grad
