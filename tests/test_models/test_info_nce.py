# Copyright (c) mmalfm contributors. All rights reserved.
import math

import pytest
import torch

from mmalfm.models.losses import InfoNCELoss
from mmalfm.registry import MODELS

T = 0.2


def _eye(*idx, dim=4):
    """Unit vectors e_i as rows."""
    out = torch.zeros(len(idx), dim)
    for r, i in enumerate(idx):
        out[r, i] = 1.
    return out


def test_registry_and_repr():
    loss = MODELS.build(dict(type='InfoNCELoss', temperature=0.1))
    assert isinstance(loss, InfoNCELoss) and loss.temperature == 0.1
    assert 'temperature=0.1' in repr(loss)


def test_perfect_positive_orthogonal_negatives():
    # q = k = e0 (scaled: normalised inside), M = 3 negatives e1..e3
    q = 5 * _eye(0)
    k = 2 * _eye(0)
    neg = _eye(1, 2, 3)
    loss = InfoNCELoss(temperature=T)(q, k, neg)
    # -1/T + log(e^{1/T} + 3 e^0) = log(1 + 3 e^{-1/T})
    expected = math.log(1 + 3 * math.exp(-1 / T))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_hand_computed_two_queries():
    s = math.sqrt(0.5)
    q = torch.tensor([[1., 0.], [0., 2.]])
    k = torch.tensor([[1., 1.], [0., -1.]])  # cos = s, -1
    neg = torch.tensor([[1., 0.], [-1., 0.]])
    # row 0: pos s, negs 1, -1 ; row 1: pos -1, negs 0, 0
    l0 = -s / T + math.log(math.exp(s / T) + math.exp(1 / T) +
                           math.exp(-1 / T))
    l1 = 1 / T + math.log(math.exp(-1 / T) + 2)
    loss = InfoNCELoss(temperature=T, loss_weight=2.)(q, k, neg)
    assert loss.item() == pytest.approx(2 * (l0 + l1) / 2, rel=1e-5)
    # the torch cross-entropy formulation (positive at index 0) agrees
    qn = torch.nn.functional.normalize(q, dim=1)
    kn = torch.nn.functional.normalize(k, dim=1)
    logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ neg.t()], 1) / T
    ce = torch.nn.functional.cross_entropy(logits, torch.zeros(2).long())
    assert loss.item() == pytest.approx(2 * ce.item(), rel=1e-5)


def test_invalid_rows_ignored_and_all_invalid_zero():
    torch.manual_seed(0)
    q = torch.randn(3, 8, requires_grad=True)
    k, neg = torch.randn(3, 8), torch.randn(5, 8)
    fn = InfoNCELoss()
    valid = torch.tensor([True, False, True])
    full = fn(q[[0, 2]], k[[0, 2]], neg)
    assert fn(q, k, neg, valid=valid).item() == pytest.approx(full.item())
    zero = fn(q, k, neg, valid=torch.zeros(3, dtype=torch.bool))
    assert zero.item() == 0.
    zero.backward()  # graph intact, no NaN
    assert q.grad is not None and torch.all(q.grad == 0)
    with pytest.raises(ValueError, match='bool'):
        fn(q, k, neg, valid=torch.tensor([0, -1, 0]))


def test_negative_mask_equals_loss_without_them():
    torch.manual_seed(1)
    q, k, neg = torch.randn(4, 6), torch.randn(4, 6), torch.randn(5, 6)
    fn = InfoNCELoss()
    keep = torch.tensor([True, False, True, True, False])
    ref = fn(q, k, neg[keep])
    assert fn(q, k, neg, negative_mask=keep).item() == pytest.approx(
        ref.item(), rel=1e-6)
    # per-query mask, per-query negatives: row i keeps a different subset
    per_q = neg.expand(4, 5, 6)
    mask = torch.rand(4, 5) > 0.4
    mask[:, 0] = True
    got = fn(q, k, per_q, negative_mask=mask)
    rows = [fn(q[i:i + 1], k[i:i + 1], neg[mask[i]]) for i in range(4)]
    assert got.item() == pytest.approx(
        torch.stack(rows).mean().item(), rel=1e-6)
    # all negatives of a row masked: only the positive remains -> 0
    out = fn(q[:1], k[:1], neg, negative_mask=torch.zeros(5).bool())
    assert out.item() == pytest.approx(0., abs=1e-7)


def test_shared_vs_per_query_and_multiple_sets():
    torch.manual_seed(2)
    q, k, neg = torch.randn(3, 4), torch.randn(3, 4), torch.randn(7, 4)
    fn = InfoNCELoss()
    shared = fn(q, k, neg)
    per_q = fn(q, k, neg.unsqueeze(0).expand(3, 7, 4).clone())
    assert per_q.item() == pytest.approx(shared.item(), rel=1e-6)
    # a list of sets == the concatenated set (gallery + queue for DUPR)
    split = fn(q, k, [neg[:2].expand(3, 2, 4), neg[2:]],
               negative_mask=[torch.ones(3, 2, dtype=torch.bool), None])
    assert split.item() == pytest.approx(shared.item(), rel=1e-6)


def test_errors():
    q = torch.randn(2, 4)
    fn = InfoNCELoss()
    with pytest.raises(ValueError, match='at least one negative'):
        fn(q, q, None)
    with pytest.raises(ValueError, match='at least one negative'):
        fn(q, q, torch.empty(0, 4))
    with pytest.raises(ValueError, match='does not match'):
        fn(q, q, torch.randn(3, 5))
    with pytest.raises(ValueError):
        InfoNCELoss(temperature=0.)


def test_fp16_inputs_computed_in_fp32():
    torch.manual_seed(3)
    q, k, neg = torch.randn(4, 16), torch.randn(4, 16), torch.randn(64, 16)
    fn = InfoNCELoss(temperature=0.05)  # large logits: fp16 exp overflows
    ref = fn(q.half().float(), k.half().float(), neg.half().float())
    got = fn(q.half(), k.half(), neg.half())
    assert got.dtype == torch.float32 and torch.isfinite(got)
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)


def test_queue_negatives_survive_enqueue_before_backward():
    from mmalfm.models.utils import FeatureQueue
    torch.manual_seed(4)
    queue = FeatureQueue(dim=4, length=6)
    q = torch.randn(2, 4, requires_grad=True)
    loss = InfoNCELoss(normalize=False)(q, torch.randn(2, 4), queue())
    queue.enqueue(torch.randn(2, 4))  # in place, before backward (MoCo)
    loss.backward()
    assert torch.isfinite(q.grad).all()


def test_gradient_matches_cross_entropy_and_autocast():
    torch.manual_seed(5)
    q0, k, neg = torch.randn(3, 5), torch.randn(3, 5), torch.randn(4, 5)
    q1 = q0.clone().requires_grad_()
    q2 = q0.clone().requires_grad_()
    InfoNCELoss()(q1, k, neg).backward()
    qn = torch.nn.functional.normalize(q2, dim=1)
    kn = torch.nn.functional.normalize(k, dim=1)
    nn_ = torch.nn.functional.normalize(neg, dim=1)
    logits = torch.cat([(qn * kn).sum(1, keepdim=True), qn @ nn_.t()], 1) / T
    torch.nn.functional.cross_entropy(logits,
                                      torch.zeros(3).long()).backward()
    assert torch.allclose(q1.grad, q2.grad, atol=1e-6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = InfoNCELoss()(q0.bfloat16(), k, neg)
    assert out.dtype == torch.float32
