# Copyright (c) mmalfm contributors. All rights reserved.
"""Hand-computed tests of mmalfm.structures.box_ops."""
import pytest
import torch

from mmalfm.structures import (box_area, boxes_overlap, grid_in_box,
                               hflip_boxes, intersect_boxes, pairwise_overlap,
                               sliding_windows)


def t(*rows, dtype=torch.float32):
    return torch.tensor(rows, dtype=dtype)


def test_box_area_and_degenerate():
    boxes = t([0, 0, 10, 5], [3, 3, 3, 9], [5, 5, 2, 8])
    assert box_area(boxes).tolist() == [50.0, 0.0, 0.0]


def test_hflip_boxes_swaps_and_is_involution():
    boxes = t([2, 1, 5, 4])
    flipped = hflip_boxes(boxes, 10.)
    assert flipped.tolist() == [[5, 1, 8, 4]]
    assert torch.equal(hflip_boxes(flipped, 10.), boxes)
    # per-row widths broadcast against boxes[..., 0]
    two = t([2, 1, 5, 4], [2, 1, 5, 4])
    out = hflip_boxes(two, torch.tensor([10., 6.]))
    assert out.tolist() == [[5, 1, 8, 4], [1, 1, 4, 4]]


def test_intersect_boxes_touching_is_empty():
    a = t([0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10])
    b = t([5, 5, 20, 20], [10, 0, 20, 10], [10, 10, 20, 20], [12, 0, 20, 5])
    inter, nonempty = intersect_boxes(a, b)
    assert nonempty.tolist() == [True, False, False, False]
    assert inter[0].tolist() == [5, 5, 10, 10]
    # empty intersections are zero-size, never negative
    assert inter[1].tolist() == [10, 0, 10, 10]
    assert inter[3].tolist() == [12, 0, 12, 5]
    assert (inter[:, 2:] >= inter[:, :2]).all()


def test_boxes_overlap_margin():
    region = t([10, 20, 60, 60])
    boxes = t([0, 30, 11, 40],   # 1 px overlap
              [0, 30, 12, 40],   # 2 px overlap
              [0, 30, 10, 40],   # touching
              [59, 59, 70, 70])  # 1 x 1 px at the corner
    assert boxes_overlap(boxes, region).tolist() == [True, True, False, True]
    assert boxes_overlap(boxes, region, margin=1).tolist() == [
        False, True, False, False
    ]


def test_pairwise_overlap_hand_values_and_batch():
    a = t([0, 0, 10, 10], [0, 0, 20, 10])
    b = t([5, 0, 15, 10], [0, 0, 10, 10], [30, 30, 40, 40])
    iou = pairwise_overlap(a, b, 'iou')
    # b[0] lies inside a[1]: inter 100, union 200
    expected = torch.tensor([[50 / 150, 1., 0.], [100 / 200, 100 / 200, 0.]])
    torch.testing.assert_close(iou, expected)
    ioa = pairwise_overlap(a, b, 'ioa')
    expected = torch.tensor([[0.5, 1., 0.], [0.5, 0.5, 0.]])
    torch.testing.assert_close(ioa, expected)
    # batch dims broadcast: [2, 2, 4] x [3, 4] -> [2, 2, 3]
    batched = pairwise_overlap(torch.stack([a, a + 30]), b, 'iou')
    assert batched.shape == (2, 2, 3)
    torch.testing.assert_close(batched[0], iou)
    assert batched[1, 0].tolist() == [0., 0., 1.]
    with pytest.raises(ValueError):
        pairwise_overlap(a, b, 'iof')


def test_pairwise_overlap_preserves_dtype():
    a = t([0, 0, 10, 10], dtype=torch.float64)
    assert pairwise_overlap(a, a).dtype == torch.float64


def test_grid_in_box_row_major():
    box = torch.tensor([10., 20., 30., 60.])
    cells = grid_in_box(box, 2)
    assert cells.shape == (4, 4)
    assert cells.tolist() == [[10, 20, 20, 40], [20, 20, 30, 40],
                              [10, 40, 20, 60], [20, 40, 30, 60]]
    # (rows, cols) and batching; outer edges are exactly the box
    boxes = t([0, 0, 3, 2], [0.1, 0.2, 0.7, 0.9], dtype=torch.float64)
    cells = grid_in_box(boxes, (2, 3))
    assert cells.shape == (2, 6, 4)
    assert cells[0].tolist() == [[0, 0, 1, 1], [1, 0, 2, 1], [2, 0, 3, 1],
                                 [0, 1, 1, 2], [1, 1, 2, 2], [2, 1, 3, 2]]
    assert cells[1, 0, :2].tolist() == [0.1, 0.2]
    assert cells[1, -1, 2:].tolist() == [0.7, 0.9]
    torch.testing.assert_close(
        box_area(cells).sum(-1), box_area(boxes), rtol=1e-12, atol=0)


def test_sliding_windows_crosscl_grid():
    wins = sliding_windows(224, 48, 32)
    assert wins.shape == (36, 4)
    assert wins[0].tolist() == [0, 0, 48, 48]
    assert wins[1].tolist() == [32, 0, 80, 48]      # j moves along x first
    assert wins[6].tolist() == [0, 32, 48, 80]      # next row
    assert wins[35].tolist() == [160, 160, 208, 208]
    # CrossCL multi-scale sizes keep the 6 x 6 grid
    for size in (384, 480):
        s = size / 224
        assert sliding_windows(size, 48 * s, 32 * s).shape == (36, 4)
    # a window ending exactly on the border fits; rectangular views
    assert sliding_windows(96, 48, 48).shape == (4, 4)
    wins = sliding_windows((100, 50), (50, 25), (25, 25), dtype=torch.float64)
    assert wins.shape == (6, 4) and wins.dtype == torch.float64
    assert wins[-1].tolist() == [50, 25, 100, 50]
