# Copyright (c) mmalfm contributors. All rights reserved.
"""MultiLevelRoIPool against closed-form values.

With ``aligned=True`` a box ``[x1, x2]`` (view pixels) at scale ``s`` is
sampled at ``x1 * s - 0.5 + (i + 0.5) * (x2 - x1) * s / n`` for ``i < n``
(``n`` = output bins x adaptive samples): points symmetric about
``cx * s - 0.5``. On ``f[y, x] = x`` bilinear interpolation is exact inside
``[0, W - 1]``, so the 1 x 1 pooled value is ``cx * s - 0.5``.
"""
import pytest
import torch

from mmalfm.models.utils import MultiLevelRoIPool, scale_aware_slot_ids

STRIDES = (4, 8, 16, 32)


def _x_maps(n=2, c=2, size=224, strides=STRIDES, hw=None):
    """``f_l[n, c, y, x] = x + 100 l + 10 c + 1000 n`` per level."""
    feats = []
    for lv, s in enumerate(strides):
        h, w = hw[lv] if hw else (size // s, size // s)
        x = torch.arange(w, dtype=torch.float32).expand(h, w)
        off = (100. * lv + 10. * torch.arange(c)[None, :, None, None] +
               1000. * torch.arange(n)[:, None, None, None])
        feats.append(x + off)
    return feats


# every sample stays inside [0, W - 1] at P5 (x in [16, 208] for 224 px).
BOXES = torch.tensor([
    [[16., 20., 80., 60.], [100., 30., 200., 120.], [32., 32., 208., 208.],
     [60., 100., 64., 104.]],
    [[40., 40., 56., 200.], [150., 16., 208., 70.], [20., 20., 30., 30.],
     [120., 120., 180., 180.]],
])


def _expected(boxes, scales, levels=None):
    """``[N, P * L or L, C]`` closed-form pooled values of ``_x_maps``."""
    n, num, _ = boxes.shape
    cx = (boxes[..., 0] + boxes[..., 2]) / 2
    off_n = 1000. * torch.arange(n)[:, None, None]
    off_c = 10. * torch.arange(2)[None, None, :]
    if levels is None:
        out = [cx[..., None] * scales[lv] - 0.5 + 100. * lv
               for lv in range(len(scales))]
        return torch.cat(out, 1) + off_n + off_c
    lv = torch.where(levels < 0, len(scales) - 1, levels)
    s = torch.tensor(scales)[lv]
    return (cx * s - 0.5 + 100. * lv)[..., None] + off_n + off_c


def test_constant_map():
    pool = MultiLevelRoIPool(output_size=7)
    feats = [torch.full((2, 3, 224 // s, 224 // s), 2.5) for s in STRIDES]
    out = pool(feats, BOXES)
    assert out.shape == (2, 16, 3, 7, 7)
    torch.testing.assert_close(out, torch.full_like(out, 2.5), rtol=0,
                               atol=1e-6)


def test_all_levels_centre_and_slot_order():
    pool = MultiLevelRoIPool(output_size=1)
    out = pool(_x_maps(), BOXES)
    assert out.shape == (2, 16, 2, 1, 1)
    expected = _expected(BOXES, [1. / s for s in STRIDES])
    torch.testing.assert_close(out[..., 0, 0], expected, rtol=0, atol=5e-4)
    # slot l * L + j is box j at level l, as in scale_aware_slot_ids.
    ids = torch.tensor([[11, 12, 13, 14], [21, 22, 23, 24]])
    levels = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]])
    slots = scale_aware_slot_ids(ids, levels, 4, sentinel=-1)
    for n in range(2):
        for j in range(4):
            u = int(levels[n, j]) * 4 + j
            assert slots[n, u] == ids[n, j]
            want = (BOXES[n, j, 0] + BOXES[n, j, 2]) / 2 / STRIDES[
                levels[n, j]] - 0.5 + 100 * levels[n, j] + 1000 * n
            torch.testing.assert_close(out[n, u, 0, 0, 0], want, rtol=0,
                                       atol=5e-4)


def test_assigned_levels():
    pool = MultiLevelRoIPool(output_size=1)
    levels = torch.tensor([[0, 3, -1, 1], [2, 2, 0, -1]])
    out = pool(_x_maps(), BOXES, levels)
    assert out.shape == (2, 4, 2, 1, 1)
    expected = _expected(BOXES, [1. / s for s in STRIDES], levels)
    torch.testing.assert_close(out[..., 0, 0], expected, rtol=0, atol=5e-4)
    # equals the matching slots of the all-levels output (-1 -> last).
    full = pool(_x_maps(), BOXES)
    lv = torch.where(levels < 0, 3, levels)
    idx = lv * 4 + torch.arange(4)
    torch.testing.assert_close(out, full[torch.arange(2)[:, None], idx])
    # a level missing from the batch is fine; out-of-range levels are not.
    out = pool(_x_maps(), BOXES, torch.zeros(2, 4, dtype=torch.long))
    torch.testing.assert_close(
        out[..., 0, 0], _expected(BOXES, [0.25] * 4,
                                  torch.zeros(2, 4, dtype=torch.long)),
        rtol=0, atol=5e-4)
    with pytest.raises(ValueError):
        pool(_x_maps(), BOXES, torch.full((2, 4), 4))


def test_released_feature_size_scaling():
    # 112 px view: P2..P5 = 28, 14, 7, 4 cells; released SoCo maps boxes by
    # feature size / view size (P5: 4 / 112 = 1 / 28, not 1 / 32).
    hw = [(28, 28), (14, 14), (7, 7), (4, 4)]
    feats = _x_maps(n=1, size=112, hw=hw)
    boxes = torch.tensor([[[14., 14., 42., 50.], [40., 20., 98., 98.]]])
    pool = MultiLevelRoIPool(output_size=1)
    out = pool(feats, boxes, img_shape=(112, 112))
    expected = _expected(boxes, [w / 112. for w, _ in hw])
    torch.testing.assert_close(out[..., 0, 0], expected, rtol=0, atol=5e-4)
    by_stride = pool(feats, boxes)
    assert not torch.allclose(by_stride[:, 6:], out[:, 6:], atol=0.1)


def test_one_batched_call_per_level():
    pool = MultiLevelRoIPool(output_size=7)
    calls = []
    for layer in pool.roi_layers:
        layer.register_forward_hook(
            lambda m, args, out: calls.append(tuple(args[1].shape)))
    pool(_x_maps(), BOXES)
    assert calls == [(8, 5)] * 4


def test_fp32_under_autocast_and_grad():
    torch.manual_seed(0)
    feats = [torch.randn(2, 4, 224 // s, 224 // s) for s in STRIDES]
    pool = MultiLevelRoIPool()
    ref = pool(feats, BOXES)
    for dtype in (torch.float16, torch.bfloat16):
        low = [f.to(dtype) for f in feats]
        with torch.autocast('cpu', dtype=dtype):
            out = pool(low, BOXES.to(dtype))
        assert out.dtype == dtype
        exact = pool([f.float() for f in low], BOXES.to(dtype).float())
        torch.testing.assert_close(out, exact.to(dtype), rtol=0, atol=0)
        torch.testing.assert_close(out.float(), ref, rtol=2e-2, atol=2e-2)
    feats = [f.requires_grad_() for f in feats]
    pool(feats, BOXES, torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]])).sum(
    ).backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in feats)
