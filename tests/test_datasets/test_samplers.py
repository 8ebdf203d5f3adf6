# Copyright (c) mmalfm contributors. All rights reserved.
"""Hand-computed tests of the region samplers (SoCo, CrossCL, DUPR, ALFM).

Geometry is built with ``ViewGeometry.from_crop(x, y, w, h, out, flip)``
(left, top, width, height in source pixels), float64 as the transform
passes it. Proposal ids are 1-based (``SoCo``'s ``append_prop_id``).
"""
import numpy as np
import pytest
import torch

from mmalfm.datasets.transforms.regions import BaseRegionSampler, Regions
from mmalfm.datasets.transforms.samplers import (ALFMRegionSampler,
                                                 CrossCLWindowSampler,
                                                 DUPRGridSampler,
                                                 SoCoRegionSampler)
from mmalfm.registry import TASK_UTILS
from mmalfm.structures import (ViewGeometry, inside_view, soco_level,
                               src_to_view)


def views(*specs):
    """``ViewGeometry`` of batch ``[K]`` from ``(x, y, w, h, out, flip)``."""
    return ViewGeometry.stack([
        ViewGeometry.from_crop(x, y, w, h, out, flip, dtype=torch.float64)
        for x, y, w, h, out, flip in specs
    ])


def props(*rows):
    return np.array(rows, dtype=np.float32).reshape(-1, 4)


def run(sampler, geom, proposals=None, seed=0, attempt=0, last=True,
        img_shape=(300, 400)):
    return sampler.sample(geom, img_shape, np.random.default_rng(seed),
                          proposals, attempt, last)


def by_id(region_set):
    """``{id: box}`` (duplicates of an id must carry the same box)."""
    out = {}
    for i, box in zip(region_set.ids.tolist(), region_set.boxes.tolist()):
        assert out.setdefault(i, box) == box
    return out


def same_regions(r1: Regions, r2: Regions) -> bool:
    d1, d2 = r1.to_dict(), r2.to_dict()
    return (np.array_equal(d1['views'], d2['views'])
            and np.array_equal(d1['pairs'], d2['pairs'])
            and len(d1['ids']) == len(d2['ids'])
            and all(np.array_equal(a, b) for a, b in zip(d1['ids'], d2['ids']))
            and all(
                np.array_equal(a, b)
                for a, b in zip(d1['boxes'], d2['boxes'])))


# ===================================================================== SoCo
# 400 x 300 image. V1 = whole image -> 224; V2 = crop (100, 50, 300, 250)
# -> 224; V3 = crop (0, 0, 200, 150) -> 112.
SOCO_GEOM = views((0, 0, 400, 300, 224, False), (100, 50, 200, 200, 224, True),
                  (0, 0, 200, 150, 112, False))
P1 = (110, 60, 150, 100)  # inside V1, V2, V3
P2 = (160, 80, 190, 140)  # inside V1, V2, V3
P3 = (250, 200, 290, 240)  # inside V2 only
P4 = (350, 10, 390, 40)  # outside V2 and V3
P5 = (80, 30, 120, 70)  # V2 sees (100, 50, 120, 70); inside V3
SOCO_PROPS = props(P1, P2, P3, P4, P5)


def test_soco_no_jitter_hand_values():
    s = SoCoRegionSampler(jitter_prob=0)
    assert s.needs_proposals and isinstance(s, BaseRegionSampler)
    r = run(s, SOCO_GEOM, SOCO_PROPS)
    assert [st.view for st in r.sets] == [0, 1, 0, 2]
    assert r.pairs == [(0, 1), (2, 3)]
    assert all(len(st) == 4 for st in r.sets)
    # pair V1-V2: candidates {1, 2, 3, 5}, all four selected
    assert by_id(r.sets[0]) == {1: list(P1), 2: list(P2), 3: list(P3),
                                5: list(P5)}
    assert by_id(r.sets[1]) == {1: list(P1), 2: list(P2), 3: list(P3),
                                5: [100, 50, 120, 70]}
    # pair V1-V3: candidates {1, 2, 5}, padded to 4 with one duplicate
    assert sorted(set(r.sets[2].ids.tolist())) == [1, 2, 5]
    assert by_id(r.sets[2]) == by_id(r.sets[3]) == {
        1: list(P1), 2: list(P2), 5: list(P5)}
    assert r.facts() == dict(fallback=False, num_selected=[4, 3])


def test_soco_ids_match_within_pairs_random():
    s = SoCoRegionSampler()
    gen = np.random.default_rng(123)
    for seed in range(30):
        xy = gen.uniform(0, 200, (3, 2))
        wh = gen.uniform(20, 200, (3, 2))
        geom = views(*[(x, y, w, h, 224, bool(f)) for (x, y), (w, h), f in
                       zip(xy, wh, gen.random(3) < 0.5)])
        p_xy = gen.uniform(0, 300, (6, 2))
        p = np.concatenate([p_xy, p_xy + gen.uniform(32, 100, (6, 2))], 1)
        r = run(s, geom, p.astype(np.float32), seed=seed, last=True)
        for ia, ib in r.pairs:
            sa, sb = r.sets[ia], r.sets[ib]
            assert len(sa) == len(sb) == 4
            assert set(sa.ids.tolist()) == set(sb.ids.tolist())
            for st in (sa, sb):  # clipped to their own crop
                crop = geom.crop[st.view].numpy()
                assert (st.boxes[:, :2] >= crop[:2] - 1e-4).all()
                assert (st.boxes[:, 2:] <= crop[2:] + 1e-4).all()
            # the b side is never jittered: proposal clipped to its crop
            crop = geom.crop[sb.view].numpy()
            for i, box in by_id(sb).items():
                if i > 0:
                    expect = np.concatenate([
                        np.maximum(p[i - 1, :2], crop[:2]),
                        np.minimum(p[i - 1, 2:], crop[2:])
                    ])
                    np.testing.assert_allclose(box, expect, atol=1e-4)


def test_soco_jitter_a_side_only_within_ten_percent():
    s = SoCoRegionSampler(pairs=((0, 1), ), jitter_prob=1.0)
    inner = props(P1, P2)  # inside V1 and V2 with a margin > 10 %
    for seed in range(10):
        r = run(s, SOCO_GEOM, inner, seed=seed)
        a, b = by_id(r.sets[0]), by_id(r.sets[1])
        assert b == {1: list(P1), 2: list(P2)}  # never jittered
        for i, box in a.items():
            p, q = np.array(inner[i - 1], np.float64), np.array(box)
            wh = p[2:] - p[:2]
            assert not np.allclose(p, q)
            assert (np.abs(q[:2] - p[:2]) <= 0.1 * wh + 1e-4).all()
            assert (np.abs((q[2:] - q[:2]) - wh) <= 0.1 * wh + 1e-4).all()
    # prob 0.5: over 20 images both jittered and untouched a-side rows occur
    s = SoCoRegionSampler(pairs=((0, 1), ))
    a_sides = [run(s, SOCO_GEOM, inner, seed=seed).sets[0]
               for seed in range(20)]
    same = [row == list(inner[i - 1]) for a in a_sides
            for i, row in by_id(a).items()]
    assert any(same) and not all(same)
    # jitter_views=() disables it
    s = SoCoRegionSampler(pairs=((0, 1), ), jitter_prob=1.0, jitter_views=())
    r = run(s, SOCO_GEOM, inner, seed=0)
    assert by_id(r.sets[0]) == by_id(r.sets[1])


def test_soco_jittered_box_is_clipped_to_its_crop():
    # a proposal at the image corner: jitter may move it out, clip brings
    # it back inside V1 = (0, 0, 400, 300)
    s = SoCoRegionSampler(pairs=((0, 1), ), jitter_prob=1.0)
    geom = views((0, 0, 400, 300, 224, False), (0, 0, 200, 200, 224, False))
    moved = 0
    for seed in range(20):
        r = run(s, geom, props((0, 0, 100, 100)), seed=seed)
        box = r.sets[0].boxes
        assert (box[:, :2] >= 0).all() and (box[:, 2:] <= [400, 300]).all()
        moved += (box[:, 2:] != 100).any()
    assert moved


def test_soco_fallback_sentinel_and_faithful_id():
    # P4 is outside V2: no candidate -> redraw, and on the last attempt the
    # whole crop of each side with a never-matching id
    s = SoCoRegionSampler(pairs=((0, 1), ))
    assert run(s, SOCO_GEOM, props(P4), attempt=0, last=False) is None
    r = run(s, SOCO_GEOM, props(P4), attempt=4, last=True)
    assert r.fallback is True
    assert r.sets[0].ids.tolist() == [-1] * 4
    assert r.sets[1].ids.tolist() == [-1] * 4
    assert r.sets[0].boxes.tolist() == [[0, 0, 400, 300]] * 4
    assert r.sets[1].boxes.tolist() == [[100, 50, 300, 250]] * 4
    # a fallback pair next to a real pair: the sentinel never meets a real id
    s2 = SoCoRegionSampler(pairs=((0, 1), (0, 2)), jitter_prob=0)
    r = run(s2, SOCO_GEOM, props(P3, P4), last=True)  # P3: V2 only
    assert r.sets[1].ids.tolist() == [1] * 4 and r.sets[3].ids.tolist() == [
        -1] * 4
    assert r.sets[3].boxes.tolist() == [[0, 0, 200, 150]] * 4
    # released behaviour: id 1
    sf = SoCoRegionSampler(pairs=((0, 1), ), faithful_fallback_id=True)
    r = run(sf, SOCO_GEOM, props(P4), last=True)
    assert r.sets[0].ids.tolist() == r.sets[1].ids.tolist() == [1] * 4


def test_soco_no_proposals_use_whole_image():
    s = SoCoRegionSampler(pairs=((0, 1), ), jitter_prob=0)
    # one candidate: redraw at attempt 0 (m = 2), accepted at attempt 1
    assert run(s, SOCO_GEOM, props(), attempt=0, last=False) is None
    r = run(s, SOCO_GEOM, props(), attempt=1, last=False)
    assert r.fallback is False
    assert by_id(r.sets[0]) == {1: [0, 0, 400, 300]}
    assert by_id(r.sets[1]) == {1: [100, 50, 300, 250]}


def test_soco_redraw_min_count_halves():
    s = SoCoRegionSampler()
    assert [s.min_common(t) for t in range(5)] == [2, 1, 1, 1, 1]
    s8 = SoCoRegionSampler(pairs=((0, 1), ), select_k=8, padding_k=8)
    assert [s8.min_common(t) for t in range(5)] == [4, 2, 1, 1, 1]
    # 3 candidates in V2 (P1, P2, P5): m = 4 fails, m = 2 passes
    three = props(P1, P2, P5)
    assert run(s8, SOCO_GEOM, three, attempt=0, last=False) is None
    r = run(s8, SOCO_GEOM, three, attempt=1, last=False)
    assert r.num_selected == [3] and len(r.sets[0]) == 8
    # SoCo FPN: V1-V2 has 1 candidate (P3), V1-V3 has 2 (P1, P5)
    one = props(P3, P1, P5)
    s = SoCoRegionSampler(jitter_prob=0)
    r0 = run(s, views((0, 0, 400, 300, 224, False),
                      (200, 150, 200, 150, 224, False),
                      (0, 0, 200, 150, 112, False)), one, attempt=0,
             last=False)
    assert r0 is None  # m = 2 > 1 for the first pair
    r1 = run(s, views((0, 0, 400, 300, 224, False),
                      (200, 150, 200, 150, 224, False),
                      (0, 0, 200, 150, 112, False)), one, attempt=1,
             last=False)
    assert r1.num_selected == [1, 2]
    assert r1.sets[1].ids.tolist() == [1] * 4
    # nothing intersects: redraw until the last attempt
    for t in range(4):
        assert run(s, SOCO_GEOM, props(P4), attempt=t, last=False) is None
    assert run(s, SOCO_GEOM, props(P4), attempt=4, last=True) is not None


def test_soco_margin_one_is_the_released_test():
    # an overlap with V2 (x >= 100) one pixel wide fails the inclusive test
    s = SoCoRegionSampler(pairs=((0, 1), ), jitter_prob=0)
    r = run(s, SOCO_GEOM, props((60, 100, 101, 140)), last=True)
    assert r.fallback is True
    r = run(s, SOCO_GEOM, props((60, 100, 102, 140)), last=True)
    assert r.fallback is False
    assert by_id(r.sets[1]) == {1: [100, 100, 102, 140]}
    assert by_id(r.sets[0]) == {1: [60, 100, 102, 140]}


def test_soco_levels_of_mapped_boxes():
    # 448 x 448 image; V1 whole -> 224 (scale 0.5); V2 = (100, 100, 324,
    # 324) -> 224 (scale 1)
    geom = views((0, 0, 448, 448, 224, False), (100, 100, 224, 224, 224, True))
    p = props(
        (120, 120, 168, 168),  # 48 x 48 in V2 -> P2 (level 0)
        (120, 120, 169, 169),  # 49 x 49 -> level 1
        (50, 100, 150, 200),  # clipped to 50 x 100 -> level 1 (not 2)
        (0, 0, 448, 448),  # whole V2: 224 x 224 -> level 3
        (130, 130, 322, 322))  # 192 x 192 -> level 2
    s = SoCoRegionSampler(pairs=((0, 1), ), select_k=5, padding_k=5,
                          jitter_prob=0)
    r = run(s, geom, p, img_shape=(448, 448))
    b = r.sets[1]
    g2 = geom[1]
    view = src_to_view(torch.from_numpy(b.boxes).double(), g2)
    sizes = dict(zip(b.ids.tolist(), (view[:, 2:] - view[:, :2]).tolist()))
    assert sizes == {1: [48, 48], 2: [49, 49], 3: [50, 100], 4: [224, 224],
                     5: [192, 192]}
    levels = soco_level(view, geom=g2)
    assert dict(zip(b.ids.tolist(), levels.tolist())) == {
        1: 0, 2: 1, 3: 1, 4: 3, 5: 2}
    # the V1 side (scale 0.5): 448 px -> 224 -> level 3; 49 px -> 24.5 -> 0
    a = r.sets[0]
    lv = soco_level(src_to_view(torch.from_numpy(a.boxes).double(),
                                geom[0]), geom=geom[0])
    lv = dict(zip(a.ids.tolist(), lv.tolist()))
    assert lv[4] == 3 and lv[2] == 0


def test_soco_star_share_subset_and_c4():
    geom = views((0, 0, 400, 300, 224, False), (100, 50, 200, 200, 224, True),
                 (0, 0, 200, 150, 192, False), (100, 50, 200, 200, 112, False))
    s = SoCoRegionSampler(pairs=((0, 1), (0, 2), (0, 3)),
                          share_subset={3: 1}, jitter_prob=1.0)
    r = run(s, geom, SOCO_PROPS)
    assert [st.view for st in r.sets] == [0, 1, 0, 2, 0, 3]
    assert r.pairs == [(0, 1), (2, 3), (4, 5)]
    assert np.array_equal(r.sets[4].ids, r.sets[0].ids)
    assert np.array_equal(r.sets[4].boxes, r.sets[0].boxes)  # same jitter
    assert np.array_equal(r.sets[5].ids, r.sets[1].ids)
    assert np.array_equal(r.sets[5].boxes, r.sets[1].boxes)
    assert not np.array_equal(r.sets[0].boxes, r.sets[1].boxes)
    assert r.num_selected == [4, 3, 4]
    # a shared view with a smaller crop (100, 50, 200, 150): P3 is not in
    # it, so id 3 becomes -1 in both sets of the copied pair
    geom = views((0, 0, 400, 300, 224, False), (100, 50, 200, 200, 224, True),
                 (0, 0, 200, 150, 192, False), (100, 50, 100, 100, 112, False))
    s0 = SoCoRegionSampler(pairs=((0, 1), (0, 2), (0, 3)),
                           share_subset={3: 1}, jitter_prob=0)
    r = run(s0, geom, SOCO_PROPS)
    assert sorted(set(r.sets[1].ids.tolist())) == [1, 2, 3, 5]
    expect_ids = [-1 if i == 3 else i for i in r.sets[0].ids.tolist()]
    assert r.sets[4].ids.tolist() == expect_ids
    # (P3 clipped to the crop is the zero-size box at its corner)
    assert by_id(r.sets[5]) == {1: list(P1), 2: list(P2),
                                5: [100, 50, 120, 70],
                                -1: [250, 200, 250, 200]}
    with pytest.raises(ValueError, match='share_subset'):
        SoCoRegionSampler(pairs=((0, 2), (0, 3)), share_subset={3: 1})
    # C4: one pair, no jitter, identical matched boxes
    c4 = TASK_UTILS.build(
        dict(type='SoCoRegionSampler', pairs=((0, 1), ), jitter_prob=0))
    r = run(c4, SOCO_GEOM, props(P1, P2, P3), seed=3)
    assert len(r.sets) == 2 and by_id(r.sets[0]) == by_id(r.sets[1])
    with pytest.raises(ValueError, match='select_k'):
        SoCoRegionSampler(select_k=5, padding_k=4)


# ================================================================== CrossCL
# query crop (10, 20, 112, 112) -> 224: X = 10 + x / 2;
# key crop (42, 52, 56, 56) -> 224: x' = (X - 42) * 4.
# Window (i, j) = (32j, 32i, 32j + 48, 32i + 48) is valid iff
# 10 + 16j >= 42 and 34 + 16j < 98 (same for i with 20 / 52 / 108), i.e.
# i, j in {2, 3}; j = 4 ends exactly at x' = 224 (strict: invalid).
def _crosscl_expected_src():
    j, i = np.meshgrid(np.arange(6), np.arange(6))
    x, y = (32 * j).ravel(), (32 * i).ravel()
    win = np.stack([x, y, x + 48, y + 48], 1).astype(np.float64)
    return win / 2 + [10, 20, 10, 20], win


@pytest.mark.parametrize('flip', [False, True])
def test_crosscl_windows_hand_values(flip):
    s = TASK_UTILS.build(dict(type='CrossCLWindowSampler'))
    assert not s.needs_proposals
    src_flipped_image, win = _crosscl_expected_src()
    if flip:  # CrossCL flips the whole 200-px-wide image, then crops
        geom = ViewGeometry.stack([
            ViewGeometry.from_flipped_source_crop(
                10, 20, 112, 112, 200, 224, dtype=torch.float64),
            ViewGeometry.from_flipped_source_crop(
                42, 52, 56, 56, 200, 224, dtype=torch.float64)
        ])
        expect = src_flipped_image.copy()
        expect[:, [0, 2]] = 200 - src_flipped_image[:, [2, 0]]
    else:
        geom = views((10, 20, 112, 112, 224, False),
                     (42, 52, 56, 56, 224, False))
        expect = src_flipped_image
    r = run(s, geom, img_shape=(200, 200))
    q, k = r.sets
    assert (q.view, k.view, r.pairs) == (0, 1, [(0, 1)])
    assert q.ids.tolist() == list(range(36))
    np.testing.assert_allclose(q.boxes, expect, atol=1e-4)
    np.testing.assert_allclose(k.boxes, expect, atol=1e-4)
    valid = [14, 15, 20, 21]
    assert k.ids.tolist() == [i if i in valid else -1 for i in range(36)]
    assert r.num_valid == 4
    # released key boxes x' = (X - l_k) * 224 / w_k in the (flipped) image
    key_view = src_to_view(torch.from_numpy(k.boxes).double(), geom[1])
    released = (src_flipped_image - [42, 52, 42, 52]) * 4
    np.testing.assert_allclose(key_view[valid].numpy(), released[valid],
                               atol=1e-4)
    assert key_view[14].tolist() == pytest.approx([0, 0, 96, 96], abs=1e-4)
    # back in query view pixels they are the windows again
    q_view = src_to_view(torch.from_numpy(q.boxes).double(), geom[0])
    np.testing.assert_allclose(q_view.numpy(), win, atol=1e-4)
    # j = 4 ends exactly at the key border: invalid (strict), i.e. id -1
    assert released[16].tolist()[2] == 224 and k.ids[16] == -1


def test_crosscl_grid_must_fit():
    with pytest.raises(ValueError, match=r'(?s)window=48.*view size 32'):
        CrossCLWindowSampler(view_size=32, window=48)
    with pytest.raises(ValueError, match='stride'):
        CrossCLWindowSampler(stride=0)
    s = CrossCLWindowSampler(view_size=112, window=24, stride=16)
    assert len(s.windows) == 36
    geom = views((0, 0, 100, 100, 224, False), (0, 0, 100, 100, 224, False))
    with pytest.raises(ValueError, match=r'(?s)112.*224'):
        run(s, geom)


# ===================================================================== DUPR
# view 0: crop (0, 0, 100, 100); view 1: crop (50, 20, 150, 120), flipped.
# Overlap O = (50, 20, 100, 100): 50 x 80 = 4000 = 0.4 of the smaller crop.
DUPR_GEOM = views((0, 0, 100, 100, 224, False), (50, 20, 100, 100, 224, True))


def test_dupr_grid_hand_values():
    s = TASK_UTILS.build(dict(type='DUPRGridSampler', min_overlap=0.4))
    assert not s.needs_proposals
    r = run(s, DUPR_GEOM, attempt=0, last=False, img_shape=(200, 200))
    a, b = r.sets
    assert (a.view, b.view, r.pairs) == (0, 1, [(0, 1)])
    assert a.ids.tolist() == b.ids.tolist() == list(range(16))
    xe, ye = [50, 62.5, 75, 87.5, 100], [20, 40, 60, 80, 100]
    expect = [[xe[c], ye[r_], xe[c + 1], ye[r_ + 1]] for r_ in range(4)
              for c in range(4)]
    assert a.boxes.tolist() == expect and b.boxes.tolist() == expect
    assert r.no_overlap is False
    assert r.overlap == pytest.approx(0.4)
    cells = torch.from_numpy(a.boxes).double()
    assert inside_view(cells, DUPR_GEOM[0]).all()
    assert inside_view(cells, DUPR_GEOM[1]).all()
    # flipped view 1 (scale 2.24): cell 0 is at the right edge of the view
    v = src_to_view(cells[:1], DUPR_GEOM[1])[0].tolist()
    assert v == pytest.approx([196, 0, 224, 44.8])


def test_dupr_overlap_constraint():
    s = DUPRGridSampler(min_overlap=0.5)
    assert run(s, DUPR_GEOM, attempt=0, last=False) is None
    r = run(s, DUPR_GEOM, attempt=9, last=True)
    assert [len(st) for st in r.sets] == [0, 0] and r.no_overlap
    disjoint = views((0, 0, 100, 100, 224, False),
                     (120, 120, 50, 50, 224, False))
    s = DUPRGridSampler(min_overlap=0.0)
    assert run(s, disjoint, last=False) is None
    r = run(s, disjoint, last=True)
    assert [len(st) for st in r.sets] == [0, 0]
    assert r.facts() == dict(no_overlap=True, overlap=0.0)
    assert r.sets[0].boxes.shape == (0, 4)


def test_dupr_random_boxes_in_overlap():
    s = DUPRGridSampler(mode='random', num_random=16, min_overlap=0.1)
    r = run(s, DUPR_GEOM, seed=1)
    a, b = r.sets
    assert a.ids.tolist() == list(range(16))
    assert np.array_equal(a.boxes, b.boxes)
    wh = a.boxes[:, 2:] - a.boxes[:, :2]
    frac = wh / [50, 80]
    assert (frac >= 0.25 - 1e-5).all() and (frac <= 0.5 + 1e-5).all()
    assert (a.boxes[:, :2] >= [50 - 1e-4, 20 - 1e-4]).all()
    assert (a.boxes[:, 2:] <= [100 + 1e-4, 100 + 1e-4]).all()
    with pytest.raises(ValueError, match='mode'):
        DUPRGridSampler(mode='grd')


# ===================================================================== ALFM
R1 = (55, 25, 95, 95)  # inside O = (50, 20, 100, 100)
R2 = (30, 30, 70, 70)  # O sees (50, 30, 70, 70)
R3 = (0, 0, 40, 40)  # outside O
R4 = (99.5, 30, 140, 60)  # overlaps O by half a pixel: fails margin 1
R5 = (60, 30, 62, 90)  # inside O but 2 px < 0.1 * 50 px wide


def _inside_overlap(boxes):
    return ((boxes[:, :2] >= np.array([50, 20]) - 1e-4).all()
            and (boxes[:, 2:] <= np.array([100, 100]) + 1e-4).all())


def test_alfm_proposals_in_overlap_topped_up_with_random():
    s = TASK_UTILS.build(dict(type='ALFMRegionSampler'))
    assert s.needs_proposals
    r = run(s, DUPR_GEOM, props(R1, R2, R3, R4, R5), seed=2)
    a, b = r.sets
    assert (a.view, b.view, r.pairs) == (0, 1, [(0, 1)])
    assert a.ids.tolist() == b.ids.tolist() == [0, 1, 2, 3]
    assert np.array_equal(a.boxes, b.boxes)
    assert _inside_overlap(a.boxes)
    pid = r.proposal_ids.tolist()
    assert sorted(pid) == [-1, -1, 1, 2]
    rows = {p: a.boxes[k].tolist() for k, p in enumerate(pid) if p > 0}
    assert rows == {1: list(R1), 2: [50, 30, 70, 70]}
    assert r.fallback is True and r.num_random == 2
    assert np.array_equal(r.local_boxes, a.boxes)
    # enough proposals: no random box
    s2 = ALFMRegionSampler(num_regions=2)
    r = run(s2, DUPR_GEOM, props(R1, R2, R3), seed=2)
    assert r.fallback is False
    assert sorted(r.proposal_ids.tolist()) == [1, 2]


def test_alfm_identical_boxes_are_one_region():
    """A repeated proposal, and one that clips to the same box in O, give one
    region, not several ids with the same local view."""
    r2_clipped_twin = (40, 30, 70, 70)  # clips to (50, 30, 70, 70) like R2
    for seed in range(5):
        r = run(ALFMRegionSampler(num_regions=4), DUPR_GEOM,
                props(R1, R1, R2, r2_clipped_twin), seed=seed)
        pid = r.proposal_ids
        # Only the first of each identical box can be chosen: ids 1 and 3.
        assert sorted(pid[pid > 0].tolist()) == [1, 3]
        assert r.num_random == 2
        boxes = r.sets[0].boxes
        assert len(np.unique(boxes, axis=0)) == len(boxes)


def test_alfm_random_fallback_and_random_source():
    s = ALFMRegionSampler()
    r = run(s, DUPR_GEOM, props(R3, R4), seed=0)
    assert r.fallback is True and r.num_random == 4
    assert r.proposal_ids.tolist() == [-1] * 4
    assert _inside_overlap(r.sets[0].boxes)
    wh = r.sets[0].boxes[:, 2:] - r.sets[0].boxes[:, :2]
    frac = wh / [50, 80]
    assert ((frac >= 0.2 - 1e-5) & (frac <= 0.6 + 1e-5)).all()
    # source='random' ignores the proposals
    sr = ALFMRegionSampler(source='random')
    assert not sr.needs_proposals
    with_p = run(sr, DUPR_GEOM, props(R1, R2), seed=5)
    without = run(sr, DUPR_GEOM, None, seed=5)
    assert same_regions(with_p, without)
    assert with_p.proposal_ids.tolist() == [-1] * 4
    assert _inside_overlap(with_p.sets[0].boxes)


def test_alfm_overlap_required():
    disjoint = views((0, 0, 100, 100, 224, False),
                     (120, 120, 50, 50, 224, False))
    s = ALFMRegionSampler()
    assert run(s, disjoint, props(R1), last=False) is None
    r = run(s, disjoint, props(R1), last=True)
    assert [len(st) for st in r.sets] == [0, 0] and r.no_overlap
    assert r.local_boxes.shape == (0, 4)


# ============================================================ determinism
@pytest.mark.parametrize('sampler,geom,proposals', [
    (SoCoRegionSampler(), SOCO_GEOM,
     (np.tile(np.random.default_rng(0).uniform(0, 150, (20, 2)), 2) +
      [0, 0, 60, 60]).astype(np.float32)),
    (DUPRGridSampler(mode='random'), DUPR_GEOM, None),
    (ALFMRegionSampler(), DUPR_GEOM, props(R1, R2, R5)),
    (ALFMRegionSampler(source='random'), DUPR_GEOM, None),
])
def test_same_seed_same_regions(sampler, geom, proposals):
    r1 = run(sampler, geom, proposals, seed=7)
    r2 = run(sampler, geom, proposals, seed=7)
    r3 = run(sampler, geom, proposals, seed=8)
    assert same_regions(r1, r2)
    assert r1.facts().keys() == r2.facts().keys()
    assert not same_regions(r1, r3)


def test_deterministic_samplers_ignore_seed():
    s = CrossCLWindowSampler()
    g = views((10, 20, 112, 112, 224, False), (42, 52, 56, 56, 224, False))
    assert same_regions(run(s, g, seed=0), run(s, g, seed=1))
    d = DUPRGridSampler()
    assert same_regions(run(d, DUPR_GEOM, seed=0), run(d, DUPR_GEOM, seed=1))
