# Copyright (c) mmalfm contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmalfm.models.utils import (FeatureQueue, check_dense_negatives,
                                 dense_window_negatives, gather_no_grad,
                                 same_image_gallery)
from mmalfm.registry import MODELS


def _keys(*vals, dim=2):
    """Keys with distinct directions: [v, 1] rows (normalised on enqueue)."""
    return torch.tensor([[float(v), 1.] for v in vals])


def test_queue_init_normalised_and_seeded():
    g1 = torch.Generator().manual_seed(7)
    g2 = torch.Generator().manual_seed(7)
    a, b = FeatureQueue(8, 10, generator=g1), FeatureQueue(8, 10, generator=g2)
    assert a.queue.shape == (10, 8) and a.ptr.tolist() == [0]
    assert torch.equal(a.queue, b.queue)
    assert torch.allclose(a.queue.norm(dim=1), torch.ones(10))
    q = MODELS.build(dict(type='FeatureQueue', dim=3, length=4))
    assert isinstance(q, FeatureQueue)
    assert {k for k, _ in q.named_buffers()} == {'queue', 'ptr'}


def test_queue_enqueue_wraparound_exact():
    q = FeatureQueue(dim=2, length=5)
    old = q.queue.clone()
    q.enqueue(_keys(1, 2, 3))
    assert q.ptr.tolist() == [3]
    assert torch.allclose(q.queue[:3], F.normalize(_keys(1, 2, 3), dim=1))
    assert torch.equal(q.queue[3:], old[3:])
    q.enqueue(_keys(4, 5, 6))  # rows 3, 4 then wraps to row 0
    assert q.ptr.tolist() == [1]
    exp = F.normalize(_keys(6, 2, 3, 4, 5), dim=1)
    assert torch.allclose(q.queue, exp)
    # a batch longer than the queue keeps its last `length` keys, as if
    # enqueued one by one: key j -> row (ptr + j) % 5, ptr 1 -> (1+7)%5 = 3
    q.enqueue(_keys(*range(10, 17)))
    assert q.ptr.tolist() == [3]
    rows = {(1 + j) % 5: 10 + j for j in range(7)}
    exp = F.normalize(_keys(*[rows[r] for r in range(5)]), dim=1)
    assert torch.allclose(q.queue, exp)
    with pytest.raises(ValueError, match=r'\[B, 2\]'):
        q.enqueue(torch.randn(3, 4))


def test_queue_forward_is_detached_clone():
    q = FeatureQueue(dim=2, length=3)
    out = q()
    out.zero_()
    assert not torch.equal(q.queue, out)


def test_queue_state_dict_round_trip():
    a = FeatureQueue(dim=2, length=4)
    a.enqueue(_keys(1, 2, 3))
    b = FeatureQueue(dim=2, length=4)
    assert not torch.equal(a.queue, b.queue)
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.queue, a.queue) and b.ptr.tolist() == [3]
    b.enqueue(_keys(4, 5))  # resumes at the saved pointer
    assert b.ptr.tolist() == [1]
    assert torch.allclose(b.queue[0], F.normalize(_keys(5), dim=1)[0])


def test_single_process_gather_is_identity():
    x = torch.randn(3, 4, requires_grad=True)
    y = gather_no_grad(x)
    assert torch.equal(y, x) and not y.requires_grad


def test_dense_windows_exact_on_4x4():
    # channel 0: f[y, x] = 4y + x ; channel 1: constant 1
    ch0 = torch.arange(16.).view(4, 4)
    feat = torch.stack([ch0, torch.ones(4, 4)]).unsqueeze(0)  # [1, 2, 4, 4]
    out = dense_window_negatives(feat, kernel=3, stride=1, gather=False)
    assert out.shape == (4, 2)
    # window (0, 0) covers rows 0-2, cols 0-2: mean of 0,1,2,4,5,6,8,9,10 = 5
    # -> [5, 1]; windows (0,1)=6, (1,0)=9, (1,1)=10 (row-major)
    exp = F.normalize(torch.tensor([[5., 1.], [6., 1.], [9., 1.], [10., 1.]]),
                      dim=1)
    assert torch.allclose(out, exp)
    # grad follows the local map; the gathered version is detached
    f = feat.clone().requires_grad_()
    assert dense_window_negatives(f).requires_grad
    g = dense_window_negatives(f, gather=True)
    assert not g.requires_grad and torch.allclose(g, exp)
    # CrossCL sizes: P4 14x14 -> 144, P3 28x28 -> 676 per image
    assert dense_window_negatives(torch.randn(2, 3, 14, 14)).shape == (288, 3)


def test_dense_windows_too_small():
    with pytest.raises(ValueError, match='2x5'):
        dense_window_negatives(torch.randn(1, 2, 2, 5), kernel=3)
    assert check_dense_negatives(224, 16) == (12, 12)
    assert check_dense_negatives((224, 224), 8) == (26, 26)
    # 384 px, P4 24x24, CrossCL kernel/stride 4/2: (24 - 4) // 2 + 1 = 11
    assert check_dense_negatives(384, 16, kernel=4, window_stride=2) == (
        11, 11)
    with pytest.raises(ValueError, match='2x2.*input 40x40'):
        check_dense_negatives(40, 32)


def test_same_image_gallery():
    n, r, c = 2, 4, 3
    keys = torch.arange(n * r * c, dtype=torch.float).view(n, r, c)
    valid = torch.tensor([[True, True, False, True], [True] * 4])
    neg, mask = same_image_gallery(keys, valid)
    assert neg.shape == (n * r, r - 1, c) and mask.shape == (n * r, r - 1)
    assert mask.dtype == torch.bool
    for img in range(n):
        for i in range(r):
            others = [j for j in range(r) if j != i]
            row = img * r + i
            assert torch.equal(neg[row], keys[img, others])
            # own positive key never among its negatives
            assert not (neg[row] == keys[img, i]).all(dim=1).any()
            assert mask[row].tolist() == valid[img, others].tolist()
    # default: all valid
    _, m = same_image_gallery(keys)
    assert m.all()
    with pytest.raises(ValueError):
        same_image_gallery(keys, valid.long())


def test_gallery_plus_queue_in_info_nce():
    from mmalfm.models.losses import InfoNCELoss
    torch.manual_seed(0)
    n, r, c = 2, 3, 4
    q, k = torch.randn(n, r, c), torch.randn(n, r, c)
    valid = torch.tensor([[True, False, True], [True, True, True]])
    gal, gmask = same_image_gallery(k, valid)
    queue = FeatureQueue(c, 5)
    fn = InfoNCELoss()
    got = fn(q.view(-1, c), k.view(-1, c), [gal, queue()],
             valid=valid.view(-1), negative_mask=[gmask, None])
    rows = []
    for img in range(n):
        for i in range(r):
            if not valid[img, i]:
                continue
            negs = [k[img, j] for j in range(r) if j != i and valid[img, j]]
            negs = torch.cat([torch.stack(negs), queue.queue])
            rows.append(fn(q[img, i:i + 1], k[img, i:i + 1], negs))
    assert got.item() == pytest.approx(torch.stack(rows).mean().item(),
                                       rel=1e-6)


def test_gather_paths_with_fake_two_ranks(monkeypatch):
    """World size 2 faked: rank 1 holds ``x + 100`` (rank-major order)."""
    from mmalfm.models.utils import negatives as mod
    monkeypatch.setattr(mod, 'get_world_size', lambda: 2)
    monkeypatch.setattr(mod, 'all_gather', lambda x: [x, x + 100])
    x = torch.randn(2, 3, requires_grad=True)
    g = gather_no_grad(x)
    assert g.shape == (4, 3) and not g.requires_grad
    assert torch.equal(g[:2], x) and torch.equal(g[2:], x + 100)
    q = FeatureQueue(dim=2, length=5)
    q.enqueue(_keys(1, 2))  # gathered: 1, 2, then rank 1's 101, 102
    assert q.ptr.tolist() == [4]
    exp = F.normalize(torch.tensor([[1., 1.], [2., 1.], [101., 101.],
                                    [102., 101.]]), dim=1)
    assert torch.allclose(q.queue[:4], exp)
    q.enqueue(_keys(3), gather=False)  # local only
    assert q.ptr.tolist() == [0]
    neg = dense_window_negatives(torch.ones(1, 2, 4, 4), gather=True)
    assert neg.shape == (8, 2)
