# Copyright (c) mmalfm contributors. All rights reserved.
"""Regions (per image) and RegionBatch (per step): typed facts, padding,
view boxes, counters and the errors of a bad batch."""
import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample

from mmalfm.structures import (RegionBatch, Regions, RegionSet, ViewGeometry,
                               src_to_view)


def geometry():
    """Two 32-px views of a 100 x 80 image; view 1 flipped."""
    return ViewGeometry.stack([
        ViewGeometry.from_crop(10, 10, 60, 50, 32, False,
                               dtype=torch.float64),
        ViewGeometry.from_crop(30, 20, 60, 50, 32, True, dtype=torch.float64)
    ])


def image(num_boxes, **facts):
    boxes = np.array([[20., 20., 40., 40.], [30., 25., 50., 45.],
                      [35., 30., 60., 55.]])[:num_boxes]
    ids = np.arange(num_boxes)
    regions = Regions([RegionSet(0, ids, boxes),
                       RegionSet(1, ids, boxes)], [(0, 1)], **facts)
    ds = DataSample()
    ds.set_metainfo(
        dict(view_geometry=geometry().to_dict(), regions=regions.to_dict()))
    return ds


def views(n):
    return [torch.zeros(n, 3, 32, 32), torch.zeros(n, 3, 32, 32)]


def test_regions_round_trip_keeps_the_typed_facts():
    r = Regions([RegionSet(0, [3, -1], [[0, 0, 4, 4], [1, 1, 2, 2]])],
                [(0, 0)],
                local_sets=[0],
                attempts=2,
                num_random=1,
                proposal_ids=np.array([5, -1]))
    d = r.to_dict()
    assert d['info'] == dict(local_sets=[0], attempts=2, num_random=1,
                             proposal_ids=r.proposal_ids)
    back = Regions.from_dict(d)
    assert back.attempts == 2 and back.num_random == 1
    assert back.fallback is None and back.local_sets == [0]
    assert back.pairs == [(0, 0)] and back.sets[0].ids.tolist() == [3, -1]
    assert back.sets[0].boxes.dtype == np.float32
    with pytest.raises(KeyError, match='unknown facts'):
        Regions.from_dict(dict(d, info=dict(d['info'], colour='red')))
    with pytest.raises(TypeError):
        Regions([], [], colour='red')


def test_build_pads_maps_and_counts():
    samples = [
        image(3, no_overlap=False, num_random=1),
        image(1, no_overlap=True, num_random=0)
    ]
    batch = RegionBatch.build(views(2), samples)
    assert batch.geometry.batch_shape == (2, 2)
    assert batch.view_shapes == [(32, 32), (32, 32)]
    assert batch.pairs == [(0, 1)] and batch.local_sets == []
    assert batch.pair_sets == [0, 1] and batch.pair_views == [0, 1]
    assert batch.context_views == [0, 1] and batch.local_views == []
    a, b = batch.only_pair('M', 'S')
    assert (a.view, b.view) == (0, 1)
    assert a.ids.tolist() == [[0, 1, 2], [0, -1, -1]]
    assert a.src_boxes[1, 1:].abs().sum() == 0  # padding rows
    torch.testing.assert_close(
        b.boxes, src_to_view(b.src_boxes, batch.geometry[:, 1]))
    # view 1 is flipped: x of box 0 = 32 - (40 - 30) * 32 / 60
    assert b.boxes[0, 0, 0].item() == pytest.approx(32 - 10 * 32 / 60)
    assert batch.no_overlap.tolist() == [False, True]
    assert batch.num_random.tolist() == [1, 0]
    assert batch.fallback is None and batch.attempts is None
    assert set(batch.counts()) == {'no_overlap', 'num_random'}
    # a counter exists only if every image reports it
    mixed = RegionBatch.build(views(2), [image(1, num_random=2), image(1)])
    assert mixed.num_random is None


def test_build_without_regions_and_bad_batches():
    ds = DataSample()
    ds.set_metainfo(dict(view_geometry=geometry().to_dict()))
    bare = RegionBatch.build(views(1), [ds])
    assert bare.sets == [] and bare.pairs == [] and bare.num_views == 2
    with pytest.raises(ValueError, match='M needs 1 region pair.s. but the '
                       'batch has 0 .0 region sets, 2 views.*"S"'):
        bare.only_pair('M', 'S')
    with pytest.raises(ValueError, match='3 views in the batch but the view '
                       'geometry has 2'):
        RegionBatch.build(views(1) + views(1)[:1], [image(1)])
    other = image(1)
    meta = dict(other.metainfo['regions'])
    meta['pairs'] = np.zeros((0, 2), np.int64)
    other.set_metainfo(dict(regions=meta))
    with pytest.raises(ValueError, match='different region sets/pairs'):
        RegionBatch.build(views(2), [image(1), other])
