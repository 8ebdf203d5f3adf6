# Copyright (c) mmalfm contributors. All rights reserved.
"""Hand-computed tests of ViewGeometry, box tracking and method conventions.

Running example: a 100 x 80 source image, crop (x1, y1, x2, y2) =
(10, 20, 60, 60) (50 x 40 source pixels) resized to a 25 x 20 view, i.e.
scale 0.5 on both axes.
"""
import json
import math
from fractions import Fraction

import pytest
import torch

from mmalfm.structures import (ViewGeometry, clip_to_crop, crop_intersection,
                               feature_grid_to_src, inside_view,
                               intersects_view, overlap_fraction,
                               patch_overlap, sliding_windows, soco_level,
                               src_to_view, to_soco_normalized, view_to_src,
                               view_to_view)

CUDA = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')


def geom(flip=False, dtype=torch.float32):
    return ViewGeometry.from_crop(10, 20, 50, 40, (25, 20), flip, dtype=dtype)


def boxes(*rows, dtype=torch.float32):
    return torch.tensor(rows, dtype=dtype)


# ---------------------------------------------------------------- record
def test_constructors_agree_and_scale():
    g = geom()
    assert g.crop.tolist() == [10, 20, 60, 60]
    assert g.out_size.tolist() == [25, 20]
    assert g.crop_size.tolist() == [50, 40]
    assert g.scale.tolist() == [0.5, 0.5]
    assert g.flip.item() is False
    # torchvision order is (top, left, height, width)
    g2 = ViewGeometry.from_ijhw(20, 10, 40, 50, (25, 20))
    assert torch.equal(g2.crop, g.crop)
    # int out_size means a square view
    assert ViewGeometry.from_crop(0, 0, 4, 2, 8).out_size.tolist() == [8, 8]
    assert ViewGeometry.from_crop(0, 0, 4, 2, 8).scale.tolist() == [2, 4]


def test_batching_stack_getitem_len_to():
    a, b = geom(False), geom(True, torch.float32)
    b = ViewGeometry(b.crop + 1, (30, 24), True)
    g = ViewGeometry.stack([a, b])
    assert len(g) == 2 and g.batch_shape == (2, )
    assert g.flip.tolist() == [False, True]
    assert g[1].crop.tolist() == [11, 21, 61, 61]
    assert g[1].out_size.tolist() == [30, 24]
    assert g[torch.tensor([True, False])].crop.tolist() == [[10, 20, 60, 60]]
    gg = ViewGeometry.stack([g, g], dim=1)
    assert gg.batch_shape == (2, 2) and gg[:, 1].flip.tolist() == [
        False, True
    ]
    assert ViewGeometry.cat([g, g]).batch_shape == (4, )
    g64 = g.to(dtype=torch.float64)
    assert g64.dtype == torch.float64 and g64.flip.dtype == torch.bool
    with pytest.raises(TypeError):
        len(a)
    # tensors in from_crop broadcast
    gb = ViewGeometry.from_crop(torch.tensor([0., 5.]), 0, 10, 10, 20,
                                torch.tensor([True, False]))
    assert gb.crop.tolist() == [[0, 0, 10, 10], [5, 0, 15, 10]]


def test_to_dict_from_dict_collate_round_trip():
    per_image = [
        ViewGeometry.stack([
            ViewGeometry.from_crop(0, 0, 100, 80, 224, False),
            ViewGeometry.from_crop(10.5, 20, 50, 40, (112, 96), True)
        ]),
        ViewGeometry.stack([
            ViewGeometry.from_crop(3, 4, 5, 6, 224, True),
            ViewGeometry.from_crop(7, 8, 9, 10, (112, 96), False)
        ]),
    ]
    dicts = [g.to_dict() for g in per_image]
    json.dumps(dicts)  # plain Python numbers only
    assert dicts[0]['out_size'] == [[224, 224], [112, 96]]
    assert dicts[0]['flip'] == [False, True]
    assert isinstance(dicts[0]['out_size'][0][0], int)
    back = ViewGeometry.from_dict(dicts[1])
    assert torch.equal(back.crop, per_image[1].crop)
    assert torch.equal(back.flip, per_image[1].flip)
    batch = ViewGeometry.collate(dicts, device='cpu')
    assert batch.batch_shape == (2, 2)
    assert torch.equal(batch.crop, torch.stack([g.crop for g in per_image]))
    assert batch[:, 1].out_size.tolist() == [[112, 96], [112, 96]]
    assert batch[:, 0].flip.tolist() == [False, True]
    # a list of single-view dicts per image gives the same batch
    split = [[g[k].to_dict() for k in range(2)] for g in per_image]
    batch2 = ViewGeometry.collate(split, dtype=torch.float64)
    assert batch2.dtype == torch.float64
    assert torch.equal(batch2.crop.float(), batch.crop)
    assert torch.equal(batch2.flip, batch.flip)


# -------------------------------------------------------------- mapping
def test_src_to_view_hand_values():
    b = boxes([14, 24, 30, 44])
    assert src_to_view(b, geom(False)).tolist() == [[2, 2, 10, 12]]
    # flipped: x -> 25 - x, corners swap
    assert src_to_view(b, geom(True)).tolist() == [[15, 2, 23, 12]]
    # whole crop -> whole view
    crop = boxes([10, 20, 60, 60])
    assert src_to_view(crop, geom(True)).tolist() == [[0, 0, 25, 20]]
    assert view_to_src(boxes([15, 2, 23, 12]), geom(True)).tolist() == [
        b[0].tolist()
    ]


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-4),
                                       (torch.float64, 1e-10)])
def test_round_trip_random(dtype, tol):
    gen = torch.Generator().manual_seed(0)
    n, m = 4, 7
    xy = torch.rand(n, 2, generator=gen, dtype=dtype) * 100
    wh = torch.rand(n, 2, generator=gen, dtype=dtype) * 200 + 10
    crop = torch.cat([xy, xy + wh], -1)
    g = ViewGeometry(crop, torch.tensor([[224, 224], [112, 112], [224, 160],
                                         [96, 96]]),
                     torch.tensor([True, False, True, False]))
    assert g.dtype == dtype
    p = torch.rand(n, m, 2, generator=gen, dtype=dtype) * 300 - 50
    q = p + torch.rand(n, m, 2, generator=gen, dtype=dtype) * 100 + 1
    b = torch.cat([p, q], -1)
    v = src_to_view(b, g)
    assert v.dtype == dtype and v.shape == (n, m, 4)
    assert (v[..., 2:] > v[..., :2]).all()
    torch.testing.assert_close(view_to_src(v, g), b, rtol=tol, atol=tol)
    # flipped and unflipped images of a box are mirrors in the view
    g_flip = ViewGeometry(g.crop, g.out_size, ~g.flip)
    v2 = src_to_view(b, g_flip)
    w = g.out_size[:, None, 0]
    torch.testing.assert_close(v2[..., 0], w - v[..., 2], rtol=tol, atol=tol)
    # per-image geometry is used for each image's boxes
    torch.testing.assert_close(v[2], src_to_view(b[2], g[2]))


def test_geometry_cast_to_box_dtype():
    g = geom(True, torch.float32)
    b = boxes([14, 24, 30, 44], dtype=torch.float64)
    assert src_to_view(b, g).dtype == torch.float64


def test_view_matches_real_image_ops():
    """The convention agrees with cropping/flipping/resizing pixels."""
    F = pytest.importorskip('torchvision.transforms.functional')
    img = torch.zeros(1, 80, 100)
    img[0, 40, 30] = 1.  # source pixel (x=30, y=40) = box (30, 40, 31, 41)
    i, j, h, w = 20, 10, 40, 50  # torchvision's (top, left, height, width)
    view = F.crop(img, i, j, h, w)[None]
    view = torch.nn.functional.interpolate(view, size=(80, 100))[0]  # x2
    view = F.hflip(view)
    g = ViewGeometry.from_ijhw(i, j, h, w, (100, 80), flip=True)
    bx = src_to_view(boxes([30, 40, 31, 41]), g)[0]
    assert bx.tolist() == [58, 40, 60, 42]
    ys, xs = torch.nonzero(view[0], as_tuple=True)
    assert sorted(set(xs.tolist())) == [58, 59]
    assert sorted(set(ys.tolist())) == [40, 41]


# ------------------------------------------------------ clip / validity
def test_clip_and_validity_at_borders():
    g = geom(True)
    b = boxes(
        [0, 30, 20, 40],    # straddles the left border
        [70, 0, 90, 10],    # fully outside
        [0, 30, 10, 40],    # touches the left border from outside
        [10, 30, 20, 40],   # touches the left border from inside
        [10, 20, 60, 60],   # the crop itself
        [40, 50, 70, 70],   # straddles the bottom-right corner
        [0, 30, 11, 40])    # overlaps by one pixel
    clipped, nonempty = clip_to_crop(b, g)
    assert nonempty.tolist() == [True, False, False, True, True, True, True]
    assert clipped[0].tolist() == [10, 30, 20, 40]
    assert clipped[5].tolist() == [40, 50, 60, 60]
    assert (clipped[..., 2:] >= clipped[..., :2]).all()
    # view coordinates of the clipped straddling box (flipped view)
    assert src_to_view(clipped[0:1], g).tolist() == [[20, 5, 25, 10]]
    assert intersects_view(b, g).tolist() == nonempty.tolist()
    # SoCo's inclusive strict test needs > 1 px of overlap
    assert intersects_view(b, g, margin=1).tolist() == [
        True, False, False, True, True, True, False
    ]
    assert clip_to_crop(b, g, margin=1)[1][6].item() is False
    assert inside_view(b, g).tolist() == [
        False, False, False, True, True, False, False
    ]
    # CrossCL's strict far edge (tested in view pixels): the crop itself is
    # no longer inside; in the flipped view the box touching the crop's
    # *left* source edge touches the view's *right* edge, so it is out too
    assert inside_view(b, g, end_inclusive=False).tolist() == [
        False, False, False, False, False, False, False
    ]
    assert inside_view(b, geom(False), end_inclusive=False).tolist() == [
        False, False, False, True, False, False, False
    ]


def test_crop_intersection_and_fraction():
    a = ViewGeometry.from_crop(10, 20, 50, 40, 224)        # (10,20,60,60)
    b = ViewGeometry.from_crop(40, 0, 60, 50, 224, True)    # (40,0,100,50)
    c = ViewGeometry.from_crop(60, 0, 20, 20, 224)         # corner touch
    inter, ok = crop_intersection(a, b)
    assert inter.tolist() == [40, 20, 60, 50] and ok.item()
    assert crop_intersection(a, c)[1].item() is False
    torch.testing.assert_close(overlap_fraction(a, b), torch.tensor(0.3))
    torch.testing.assert_close(
        overlap_fraction(a, b, 'iou'), torch.tensor(600 / 4400))
    torch.testing.assert_close(
        overlap_fraction(a, b, 'b'), torch.tensor(600 / 3000))
    assert overlap_fraction(a, c).item() == 0
    # batched
    ab = crop_intersection(ViewGeometry.stack([a, a]),
                           ViewGeometry.stack([b, c]))
    assert ab[1].tolist() == [True, False]


# ---------------------------------------------------------- feature grid
def test_feature_grid_flipped_is_mirrored():
    cells = feature_grid_to_src(geom(False), (2, 2))
    assert cells.tolist() == [[10, 20, 35, 40], [35, 20, 60, 40],
                              [10, 40, 35, 60], [35, 40, 60, 60]]
    flipped = feature_grid_to_src(geom(True), (2, 2))
    assert flipped.tolist() == [[35, 20, 60, 40], [10, 20, 35, 40],
                                [35, 40, 60, 60], [10, 40, 35, 60]]
    # explicit stride: 112 px view at stride 32 -> 4 cells overhanging
    g = ViewGeometry.from_crop(0, 0, 224, 224, 112)
    cells = feature_grid_to_src(g, (4, 4), stride=32)
    assert cells[3].tolist() == [192, 0, 256, 64]


def test_patch_overlap_self_is_diagonal():
    g = ViewGeometry.from_crop(13, 7, 200, 160, 224, True)
    iou = patch_overlap(g, g, (7, 7), (7, 7))
    assert iou.shape == (49, 49)
    torch.testing.assert_close(iou.diagonal(), torch.ones(49))
    off = iou - torch.diag(iou.diagonal())
    assert off.max() < 1e-5
    # Acceptance: two identical views give the identity on the grid ...
    torch.testing.assert_close(iou, torch.eye(49), atol=1e-5, rtol=0)
    # ... and two disjoint crops give all zeros (flip or not).
    far = ViewGeometry.from_crop(300, 200, 50, 40, 224, False)
    assert torch.equal(patch_overlap(g, far, (7, 7), (7, 7)),
                       torch.zeros(49, 49))
    ioa = patch_overlap(g, far, (7, 7), (4, 4), mode='ioa')
    assert torch.equal(ioa, torch.zeros(49, 16))


def test_patch_overlap_offset_by_one_cell():
    a = ViewGeometry.from_crop(0, 0, 80, 80, 80)  # 4x4 cells of 20 px
    b = ViewGeometry.from_crop(20, 0, 80, 80, 80)  # shifted by one cell
    ones = (patch_overlap(a, b, (4, 4), (4, 4)) == 1).nonzero().tolist()
    expected = [[r * 4 + c + 1, r * 4 + c] for r in range(4) for c in range(3)]
    assert sorted(ones) == sorted(expected)
    # flipped b: its column c is the source column 4 - c of a
    bf = ViewGeometry.from_crop(20, 0, 80, 80, 80, True)
    ones = (patch_overlap(a, bf, (4, 4), (4, 4)) == 1).nonzero().tolist()
    expected = [[r * 4 + 4 - c, r * 4 + c] for r in range(4)
                for c in range(1, 4)]
    assert sorted(ones) == sorted(expected)
    # ioa against a coarser 2x2 map of the same crop: each cell of a lies in
    # exactly one cell of the coarse map
    coarse = ViewGeometry.from_crop(0, 0, 80, 80, 40)
    ioa = patch_overlap(a, coarse, (4, 4), (2, 2), mode='ioa')
    expected = torch.zeros(16, 4)
    for r in range(4):
        for c in range(4):
            expected[r * 4 + c, (r // 2) * 2 + c // 2] = 1
    assert torch.equal(ioa, expected)
    # batched over images
    batched = patch_overlap(
        ViewGeometry.stack([a, a]), ViewGeometry.stack([b, bf]), (4, 4),
        (4, 4))
    assert batched.shape == (2, 16, 16)
    assert torch.equal(batched[1], patch_overlap(a, bf, (4, 4), (4, 4)))


def test_dupr_grid_over_overlap_lands_inside_both_views():
    from mmalfm.structures import grid_in_box
    a = ViewGeometry.from_crop(10, 20, 50, 40, 224)
    b = ViewGeometry.from_crop(40, 0, 60, 50, 224, True)
    overlap, ok = crop_intersection(a, b)
    cells = grid_in_box(overlap, 4)
    assert cells.shape == (16, 4)
    assert cells[0].tolist() == [40, 20, 45, 27.5]
    assert inside_view(cells, a).all() and inside_view(cells, b).all()
    # cell 0 (top-left in the source) is top-right in flipped view b
    vb = src_to_view(cells, b)
    assert vb[0, 2].item() == pytest.approx(224.)


# ------------------------------------------------------------- CrossCL
def crosscl_anchor_mapping(anchor, loc_q, loc_k, img_size=224.):
    """Section 2.3 formula, written as in the released CrossCL code."""
    x0, y0, x1, y1 = anchor
    l_q, t_q, r_q, b_q = loc_q
    l_k, t_k, r_k, b_k = loc_k
    l_a = (r_q - l_q) * x0 / img_size + l_q
    r_a = (r_q - l_q) * x1 / img_size + l_q
    t_a = (b_q - t_q) * y0 / img_size + t_q
    b_a = (b_q - t_q) * y1 / img_size + t_q
    x0 = (l_a - l_k) * img_size / (r_k - l_k)
    x1 = (r_a - l_k) * img_size / (r_k - l_k)
    y0 = (t_a - t_k) * img_size / (b_k - t_k)
    y1 = (b_a - t_k) * img_size / (b_k - t_k)
    valid = not (x0 < 0 or y0 < 0 or x1 >= img_size or y1 >= img_size)
    return [x0, y0, x1, y1], valid


def test_crosscl_hand_case():
    gq = ViewGeometry.from_crop(0, 0, 224, 224, 224)
    gk = ViewGeometry.from_crop(32, 32, 224, 224, 224)
    wins = sliding_windows(224, 48, 32)
    src = view_to_src(wins, gq)
    valid = inside_view(src, gk, end_inclusive=False).reshape(6, 6)
    expected = torch.ones(6, 6, dtype=torch.bool)
    expected[0, :] = False
    expected[:, 0] = False
    assert torch.equal(valid, expected)
    assert torch.equal(src_to_view(src, gk), wins - 32)


def test_crosscl_formula_exact():
    # crops as (top, left, height, width) from RandomResizedCrop
    q, k = (40, 30, 120, 150), (20, 60, 160, 200)
    gq = ViewGeometry.from_ijhw(*q, 224, dtype=torch.float64)
    gk = ViewGeometry.from_ijhw(*k, 224, dtype=torch.float64)
    wins = sliding_windows(224, 48, 32, dtype=torch.float64)
    src = view_to_src(wins, gq)
    mapped = src_to_view(src, gk)
    valid = inside_view(src, gk, end_inclusive=False)
    loc = lambda t, l, h, w: (l, t, l + w, t + h)  # noqa: E731
    ref = [crosscl_anchor_mapping(a, loc(*q), loc(*k)) for a in wins.tolist()]
    assert torch.equal(mapped, torch.tensor([r[0] for r in ref],
                                            dtype=torch.float64))
    assert valid.tolist() == [r[1] for r in ref]
    assert 0 < valid.sum() < 36  # the case exercises both outcomes
    assert torch.equal(view_to_view(wins, gq, gk), mapped)
    # batched over two images gives the same per-image result
    gq2 = ViewGeometry.stack([gq, gk])
    gk2 = ViewGeometry.stack([gk, gq])
    both = view_to_view(wins.expand(2, 36, 4), gq2, gk2)
    assert torch.equal(both[0], mapped)


def test_crosscl_shared_flip_before_crop():
    """CrossCL flips the whole image, then crops: same windows as unflipped
    formula in flipped-image coordinates."""
    img_w = 300
    q, k = (40, 30, 120, 150), (20, 60, 160, 200)
    gq = ViewGeometry.from_flipped_source_crop(
        q[1], q[0], q[3], q[2], img_w, 224, dtype=torch.float64)
    gk = ViewGeometry.from_flipped_source_crop(
        k[1], k[0], k[3], k[2], img_w, 224, dtype=torch.float64)
    assert gq.crop.tolist() == [300 - 30 - 150, 40, 300 - 30, 160]
    wins = sliding_windows(224, 48, 32, dtype=torch.float64)
    loc = lambda t, l, h, w: (l, t, l + w, t + h)  # noqa: E731
    ref = [crosscl_anchor_mapping(a, loc(*q), loc(*k)) for a in wins.tolist()]
    torch.testing.assert_close(
        view_to_view(wins, gq, gk),
        torch.tensor([r[0] for r in ref], dtype=torch.float64))
    valid = inside_view(view_to_src(wins, gq), gk, end_inclusive=False)
    assert valid.tolist() == [r[1] for r in ref]


# ---------------------------------------------------------------- SoCo
def test_soco_normalized_hand_values():
    b = boxes([20, 30, 40, 50], dtype=torch.float64)
    # inclusive (20, 30, 39, 49) -> crop-relative (10, 10, 29, 29) / (50, 40)
    g = geom(False, torch.float64)
    v = src_to_view(b, g)
    assert v.tolist() == [[5, 5, 15, 15]]
    expected = torch.tensor([[0.2, 0.25, 0.58, 0.725]], dtype=torch.float64)
    torch.testing.assert_close(to_soco_normalized(v, g), expected)
    # flipped view: normalise unflipped, then (1 - x2, 1 - x1)
    gf = geom(True, torch.float64)
    vf = src_to_view(b, gf)
    assert vf.tolist() == [[10, 5, 20, 15]]
    expected = torch.tensor([[0.42, 0.25, 0.8, 0.725]], dtype=torch.float64)
    torch.testing.assert_close(to_soco_normalized(vf, gf), expected)
    # view size only: one *view* pixel is subtracted
    expected = torch.tensor([[0.2, 0.25, 0.56, 0.7]], dtype=torch.float64)
    torch.testing.assert_close(to_soco_normalized(v, (25, 20)), expected)
    # the whole-view fallback box [0, 0, w-1, h-1] / (w, h)
    whole = to_soco_normalized(torch.tensor([[0., 0., 25., 20.]]), geom())
    torch.testing.assert_close(whole,
                               torch.tensor([[0., 0., 49 / 50, 39 / 40]]))


def test_soco_level_boundaries():
    thr = (48, 96, 192, 224)
    v = torch.tensor([[0, 0, 48, 48], [0, 0, 49, 49], [0, 0, 96, 96],
                      [0, 0, 97, 97], [0, 0, 192, 192], [0, 0, 193, 193],
                      [0, 0, 224, 224], [0, 0, 225, 225], [0, 0, 32, 72],
                      [0, 0, 33, 72], [10, 10, 10, 20]], dtype=torch.float32)
    assert soco_level(v, thr).tolist() == [0, 1, 1, 2, 2, 3, 3, -1, 0, 1, -1]
    # with geometry: one source pixel is 0.5 view pixel (crop 448 -> 224)
    g = ViewGeometry.from_crop(0, 0, 448, 448, 224)
    src = torch.tensor([[0., 0., 96., 96.], [0., 0., 97., 97.],
                        [0., 0., 192., 192.], [0., 0., 194., 194.]])
    # inclusive 95 -> 47.5 -> 47 -> w 48;  96 -> 48 -> w 49
    # inclusive 191 -> 95.5 -> w 96;        193 -> 96.5 -> w 97
    assert soco_level(src_to_view(src, g), thr, geom=g).tolist() == [
        0, 1, 1, 2
    ]
    # flipped views get the level of their unflipped box
    gf = ViewGeometry.from_crop(0, 0, 448, 448, 224, True)
    assert soco_level(src_to_view(src, gf), thr, geom=gf).tolist() == [
        0, 1, 1, 2
    ]
    # float round-off: in this fp32 flipped view the inclusive x2 (exactly
    # 9 / 42 * 224 = 48) comes out as 47.999996; it must not lose a pixel,
    # w = 49, h = 48, area 2352 > 48 ** 2 -> P3
    g = ViewGeometry.from_crop(0, 0, 42, 224, 224, True)
    v_round = src_to_view(torch.tensor([[0., 0., 10., 48.]]), g)
    assert soco_level(v_round, thr, geom=g).tolist() == [1]
    with pytest.raises(ValueError):
        soco_level(v, (96, 48))


def released_soco(props_xywh, top, left, height, width, view, flip):
    """SoCo's released box pipeline (clip_bboxs, bboxs_to_tensor, flip,
    resize_bboxs + astype(int), assign_bboxs_to_feature_map), with exact
    rational arithmetic where the numpy code truncates."""
    ix1, iy1 = left, top
    ix2, iy2 = left + width - 1, top + height - 1
    keep, normed, levels = [], [], []
    for x, y, w, h in props_xywh:
        bx1, by1, bx2, by2 = x, y, x + w - 1, y + h - 1
        ok = ix1 < bx2 and bx1 < ix2 and iy1 < by2 and by1 < iy2
        keep.append(ok)
        if not ok:
            continue
        c = [max(ix1, bx1) - ix1, max(iy1, by1) - iy1,
             min(ix2, bx2) - ix1, min(iy2, by2) - iy1]
        n = [c[0] / width, c[1] / height, c[2] / width, c[3] / height]
        if flip:
            n = [1 - n[2], n[1], 1 - n[0], n[3]]
        normed.append(n)
        r = [int(Fraction(c[0], width) * view), int(Fraction(c[1], height) *
             view), int(Fraction(c[2], width) * view),
             int(Fraction(c[3], height) * view)]
        size = math.sqrt((r[2] - r[0] + 1) * (r[3] - r[1] + 1))
        levels.append(next((j for j, t in enumerate((48, 96, 192, 224))
                            if size <= t), -1))
    return keep, normed, levels


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_soco_matches_released_pipeline(seed):
    gen = torch.Generator().manual_seed(seed)
    img_w, img_h = 500, 375
    top, left, height, width = 37, 61, 250, 333
    view = 224 if seed != 1 else 112
    flip = seed != 0
    xy = torch.randint(0, 400, (200, 2), generator=gen)
    wh = torch.randint(1, 300, (200, 2), generator=gen)
    props = torch.cat([xy, wh], -1).tolist()  # selective search (x, y, w, h)
    keep, normed, levels = released_soco(props, top, left, height, width,
                                         view, flip)
    # ours: continuous corners (x, y, x + w, y + h)
    p = torch.tensor(props, dtype=torch.float64)
    src = torch.cat([p[:, :2], p[:, :2] + p[:, 2:]], -1)
    g = ViewGeometry.from_ijhw(top, left, height, width, view, flip,
                               dtype=torch.float64)
    valid = intersects_view(src, g, margin=1)
    assert valid.tolist() == keep
    clipped, _ = clip_to_crop(src[valid], g)
    v = src_to_view(clipped, g)
    torch.testing.assert_close(
        to_soco_normalized(v, g), torch.tensor(normed, dtype=torch.float64))
    assert soco_level(v, geom=g).tolist() == levels
    assert len(set(levels)) >= 2  # the sample spans several levels
    # fp32 on the same boxes keeps the levels
    g32 = g.to(dtype=torch.float32)
    assert soco_level(src_to_view(clipped.float(), g32),
                      geom=g32).tolist() == levels


# ----------------------------------------------------------------- CUDA
@CUDA
def test_cuda_matches_cpu():
    dicts = [geom(True).to_dict(), geom(False).to_dict()]
    g_cpu = ViewGeometry.collate(dicts)
    g_gpu = ViewGeometry.collate(dicts, device='cuda')
    assert g_gpu.device.type == 'cuda' and g_gpu.flip.is_cuda
    b = boxes([14, 24, 30, 44], [0, 30, 20, 40]).expand(2, 2, 4)
    v = src_to_view(b.cuda(), g_gpu)
    assert v.is_cuda
    torch.testing.assert_close(v.cpu(), src_to_view(b, g_cpu))
    torch.testing.assert_close(view_to_src(v, g_gpu).cpu(), b)
    assert torch.equal(
        inside_view(b.cuda(), g_gpu).cpu(), inside_view(b, g_cpu))
    po = patch_overlap(g_gpu, g_gpu[[1, 0]], (2, 2), (2, 2))
    torch.testing.assert_close(
        po.cpu(), patch_overlap(g_cpu, g_cpu[[1, 0]], (2, 2), (2, 2)))
    lv = soco_level(v, geom=g_gpu)
    assert lv.is_cuda and torch.equal(lv.cpu(), soco_level(
        src_to_view(b, g_cpu), geom=g_cpu))
