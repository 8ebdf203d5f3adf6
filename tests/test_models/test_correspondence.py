# Copyright (c) mmalfm contributors. All rights reserved.
import pytest
import torch

from mmalfm.models.utils import (assign_soco_levels, id_correspondence,
                                 scale_aware_slot_ids)
from mmalfm.structures import ViewGeometry, soco_level

# Two images x 4 boxes per view (released L = 4, P = 4 levels).
# image 0: id 3 padded twice in view a, id 7 twice in view b; id 7 sits on
#          P3 in a and on P3 + P5 in b (cross-level matches are positives).
# image 1: fallback id -1 on both sides (never matches); one copy of id 2
#          in a has level -1 (no slot), the other matches b's id 2; id 4 is
#          on P3 in a but has level -1 in b (no match).
IDS_A = torch.tensor([[3, 5, 3, 7], [-1, 2, 4, 2]])
LEV_A = torch.tensor([[0, 2, 0, 1], [3, -1, 1, 1]])
IDS_B = torch.tensor([[5, 3, 7, 7], [-1, 2, 4, 9]])
LEV_B = torch.tensor([[2, 0, 3, 1], [3, 0, -1, 0]])

_ = -1  # view a's sentinel
SLOTS_A = torch.tensor([
    # P2           P3            P4            P5
    [3, _, 3, _, _, _, _, 7, _, 5, _, _, _, _, _, _],
    [_, _, _, _, _, _, 4, 2, _, _, _, _, _, _, _, _],
])
_ = -2  # view b's sentinel
SLOTS_B = torch.tensor([
    [_, 3, _, _, _, _, _, 7, 5, _, _, _, _, _, 7, _],
    [_, 2, _, 9, _, _, _, _, _, _, _, _, _, _, _, _],
])
# (slot in a, slot in b) of every positive, by hand from the vectors above.
POSITIVES = [
    [(0, 1), (2, 1), (7, 7), (7, 14), (9, 8)],
    [(7, 1)],
]


def _hand_matrix():
    corr = torch.zeros(2, 16, 16, dtype=torch.bool)
    for n, pairs in enumerate(POSITIVES):
        for u, v in pairs:
            corr[n, u, v] = True
    return corr


def test_slot_ids_match_hand_built():
    slots_a = scale_aware_slot_ids(IDS_A, LEV_A, 4, sentinel=-1)
    slots_b = scale_aware_slot_ids(IDS_B, LEV_B, 4, sentinel=-2)
    assert slots_a.dtype == torch.int64 and slots_a.shape == (2, 16)
    assert torch.equal(slots_a, SLOTS_A)
    assert torch.equal(slots_b, SLOTS_B)


def test_correspondence_matches_hand_built():
    slots_a = scale_aware_slot_ids(IDS_A, LEV_A, 4, sentinel=-1)
    slots_b = scale_aware_slot_ids(IDS_B, LEV_B, 4, sentinel=-2)
    corr = id_correspondence(slots_a, slots_b)
    assert corr.dtype == torch.bool and corr.shape == (2, 16, 16)
    assert torch.equal(corr, _hand_matrix())
    # padded duplicates: id 3 twice in a (P2) -> two positives with b's one
    # id 3; id 7 twice in b -> two positives with a's one id 7.
    assert corr[0].sum() == 5
    # the reverse direction is the transpose.
    assert torch.equal(id_correspondence(slots_b, slots_a),
                       corr.transpose(1, 2))


def test_same_sentinel_never_matches():
    # with one shared sentinel the matrix is unchanged: id_correspondence
    # ignores negative entries even when they are equal.
    slots_a = scale_aware_slot_ids(IDS_A, LEV_A, 4, sentinel=-1)
    slots_b = scale_aware_slot_ids(IDS_B, LEV_B, 4, sentinel=-1)
    assert torch.equal(id_correspondence(slots_a, slots_b), _hand_matrix())
    neg = torch.tensor([[-1, -3, 0]])
    assert torch.equal(
        id_correspondence(neg, neg),
        torch.tensor([[[False, False, False], [False, False, False],
                       [False, False, True]]]))


def test_level_minus_one_and_negative_ids_get_no_slot():
    ids = torch.tensor([[4, -1, 6]])
    levels = torch.tensor([[-1, 0, 1]])
    slots = scale_aware_slot_ids(ids, levels, 2, sentinel=-5)
    assert slots.tolist() == [[-5, -5, -5, -5, -5, 6]]
    with pytest.raises(ValueError):
        scale_aware_slot_ids(ids, levels, 2, sentinel=0)
    with pytest.raises(ValueError):
        scale_aware_slot_ids(ids, levels[:, :2], 2, sentinel=-1)


def test_assign_soco_levels_uses_view_geometry():
    # image 0: 224 view of a 224 crop (1 source px = 1 view px);
    # image 1: 224 view of a 112 crop (1 source px = 2 view px).
    geom = ViewGeometry(
        torch.tensor([[0., 0., 224., 224.], [0., 0., 112., 112.]]), 224)
    boxes = torch.tensor([
        [[0., 0., 48., 48.], [0., 0., 49., 49.], [10., 10., 202., 202.],
         [0., 0., 224., 224.]],
        # inclusive w = 97 - 2 + 1 = 96 -> P3 (not 97 -> P4 as it would be
        # with one *view* pixel subtracted); 194 -> 193 > 192 -> P5.
        [[0., 0., 97., 97.], [0., 0., 194., 194.], [0., 0., 98., 98.],
         [0., 0., 2., 2.]],
    ])
    levels = assign_soco_levels(boxes, geom)
    assert levels.dtype == torch.int64
    assert levels.tolist() == [[0, 1, 2, 3], [1, 3, 2, 0]]
    assert torch.equal(levels, soco_level(boxes, geom=geom))
    assert soco_level(boxes[1:2, :1]).item() == 2  # no geometry differs
    # tighter thresholds: beyond the last one -> -1.
    assert assign_soco_levels(boxes, geom, (48, 96)).tolist() == [
        [0, 1, -1, -1], [1, -1, -1, 0]
    ]
