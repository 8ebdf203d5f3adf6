# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for ``mmalfm.visualization``: the view browser's visualizer and
its pipeline taken from a config."""
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmalfm.registry import VISUALIZERS
from mmalfm.structures import ViewGeometry
from mmalfm.visualization import (GREY, RegionViewVisualizer, browse_views,
                                  build_view_transform, compute_proposals,
                                  find_multi_view_crop, id_colour)
from mmalfm.visualization.colours import BACKGROUND
from mmalfm.visualization.drawing import DASH, GAP
from mmalfm.visualization.layout import (HEADER_H, LABEL_H, LEGEND_LINE_H,
                                         MARGIN)
from mmalfm.visualization.view_browser import NUM_RANDOM_PROPOSALS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DUPR_DEMO = osp.join(REPO,
                     'configs/dupr/dupr_resnet18q_1xb8-coslr-10e_demo.py')
SIZE = 100  # source image side
VIEW1_X = 40  # view 1 = source columns 40..100, unscaled

# source boxes, chosen so that no two boxes (or their labels) touch
BOX = {
    0: (45, 5, 95, 35),  # both sets: matched
    2: (45, 40, 95, 70),  # both sets: matched
    3: (45, 75, 95, 97),  # set 1 only: dashed
    1: (3, 40, 38, 70),  # set 0 only: dashed
    -1: (3, 75, 38, 97),  # negative: grey dashed
}


def _scene():
    """A black 100 x 100 source, view 0 = the whole image, view 1 = its
    columns 40..100 (both unscaled, unflipped) and one pair of sets."""
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    geom = ViewGeometry.stack([
        ViewGeometry.from_crop(0, 0, SIZE, SIZE, (SIZE, SIZE),
                               dtype=torch.float64),
        ViewGeometry.from_crop(VIEW1_X, 0, SIZE - VIEW1_X, SIZE,
                               (SIZE - VIEW1_X, SIZE), dtype=torch.float64)
    ])
    views = [img.copy(), img[:, VIEW1_X:].copy()]
    ids = [np.array([0, 1, 2, -1]), np.array([0, 2, 3])]
    regions = dict(
        views=np.array([0, 1]),
        ids=ids,
        boxes=[np.array([BOX[i] for i in s], np.float32) for s in ids],
        pairs=np.array([[0, 1]]),
        info={})
    return img, views, geom, regions


def _origins(scale):
    """Top-left of the source panel and the two view panels (the layout
    the visualizer documents; the source panel is scaled by ``scale`` too
    since every panel is 100 px high)."""
    y = HEADER_H + LABEL_H
    src_x = MARGIN
    v0_x = src_x + SIZE * scale + MARGIN
    v1_x = v0_x + SIZE * scale + MARGIN
    return y, src_x, v0_x, v1_x


def _outline(box, x0, y0, factor):
    """Pixels of a box outline (continuous corners) on the canvas."""
    x1, y1, x2, y2 = (int(round(v * factor)) for v in box)
    x2, y2 = x2 - 1, y2 - 1
    pts = [(x, y) for x in range(x1, x2 + 1) for y in (y1, y2)]
    pts += [(x, y) for y in range(y1, y2 + 1) for x in (x1, x2)]
    return [(x0 + x, y0 + y) for x, y in pts]


def _draw(scale):
    img, views, geom, regions = _scene()
    vis = RegionViewVisualizer(name=f'test_rvv_{scale}', scale=scale)
    canvas, layout = vis.draw_views(img, views, geom, regions, 'scene')
    return canvas, layout, regions


def test_id_colour_same_in_every_panel():
    scale = 2
    canvas, layout, _ = _draw(scale)
    y0, src_x, v0_x, v1_x = _origins(scale)
    assert layout['src']['x'] == src_x and layout['views'] == [(v0_x, y0),
                                                               (v1_x, y0)]
    for region_id in (0, 2):
        box = np.array(BOX[region_id], float)
        panels = [(src_x, box), (v0_x, box),
                  (v1_x, box - [VIEW1_X, 0, VIEW1_X, 0])]
        for x0, b in panels:
            for x, y in _outline(b, x0, y0, scale):
                assert tuple(canvas[y, x]) == id_colour(region_id), (
                    region_id, x0, (x, y))


def test_dashed_unmatched_and_grey_negative():
    scale = 1  # 1-px lines: the dash pattern is exact
    canvas, _, _ = _draw(scale)
    y0, _, v0_x, v1_x = _origins(scale)
    for region_id, x0, shift in ((1, v0_x, 0), (3, v1_x, VIEW1_X),
                                 (-1, v0_x, 0)):
        x1, y1, x2, _ = BOX[region_id]
        x1 -= shift
        x2 -= shift
        colour = GREY if region_id < 0 else id_colour(region_id)
        # the top edge, left to right: dashes from its left end; its right
        # end is where the right edge's first dash starts
        top = canvas[y0 + y1, x0 + x1:x0 + x2]
        length = x2 - 1 - x1
        on = np.array([o % (DASH + GAP) <= DASH or o == length
                       for o in range(length + 1)])
        assert (~on).sum() >= 3 * (GAP - 1)
        assert (top[on] == colour).all(), region_id
        assert (top[~on] == 0).all(), region_id  # the black image shows
    # a solid (matched) box has no gap
    x1, y1, x2, _ = BOX[0]
    assert (canvas[y0 + y1, v0_x + x1:v0_x + x2] == id_colour(0)).all()


def _swatches(canvas, y):
    """Colours of the 11-px legend swatches on the legend line at baseline
    ``y`` (runs of one saturated colour; text is grey)."""
    row = canvas[y - 5].astype(int)
    out, x = [], 0
    while x < len(row):
        c = row[x]
        if len(set(c.tolist())) == 1:  # grey: background or text
            x += 1
            continue
        n = 1
        while x + n < len(row) and (row[x + n] == c).all():
            n += 1
        assert n == 11, f'a colour run of {n} px at x={x} is no swatch'
        out.append(tuple(c.tolist()))
        x += n
    return out


def _legend_pair_y(row_h, pair_index):
    return HEADER_H + LABEL_H + row_h + MARGIN + LEGEND_LINE_H - 6 + \
        (pair_index + 1) * LEGEND_LINE_H


def test_legend_swatches_are_the_matched_ids():
    canvas, layout, regions = _draw(2)
    ids0, ids1 = (set(i for i in s.tolist() if i >= 0)
                  for s in regions['ids'])
    matched = sorted(ids0 & ids1)
    assert matched == [0, 2]
    assert _swatches(canvas, _legend_pair_y(layout['row_h'], 0)) == \
        [id_colour(i) for i in matched]
    # the key line, the pair line, nothing more
    assert canvas.shape[0] == HEADER_H + LABEL_H + layout['row_h'] + \
        MARGIN + 2 * LEGEND_LINE_H + MARGIN


def test_add_datasample_writes_and_keeps_the_picture(tmp_path):
    img, views, geom, regions = _scene()
    vis = RegionViewVisualizer(name='test_rvv_add', scale=1)
    out = str(tmp_path / 'sub' / 'pic.png')
    canvas = vis.add_datasample(
        'pic', img,
        dict(img=views, view_geometry=geom.to_dict(), regions=regions),
        out_file=out, title='scene')
    assert np.array_equal(cv2.imread(out), canvas)
    assert np.array_equal(vis.get_image(), canvas[..., ::-1])
    with pytest.raises(KeyError, match='view_geometry'):
        vis.add_datasample('pic', img, dict(img=views))


def test_registered_in_mmalfm_scope():
    with DefaultScope.overwrite_default_scope('mmalfm'):
        vis = VISUALIZERS.build(
            dict(type='RegionViewVisualizer', name='test_rvv_reg', scale=3))
    assert isinstance(vis, RegionViewVisualizer) and vis.scale == 3
    with pytest.raises(ValueError, match='scale'):
        RegionViewVisualizer(name='test_rvv_bad', scale=0)


def test_colours():
    colours = {id_colour(i) for i in range(36)}
    assert len(colours) == 36 and GREY not in colours
    assert id_colour(-1) == id_colour(-7) == GREY
    assert BACKGROUND not in colours


# ------------------------------------------------- pipeline from a config
def test_config_without_multi_view_crop_names_it():
    path = osp.join(REPO, 'configs/byol/byol_resnet18q_1xb8-coslr-10e_demo.py')
    with pytest.raises(ValueError) as e:
        build_view_transform(path)
    assert path in str(e.value) and 'no MultiViewCrop' in str(e.value)
    with pytest.raises(ValueError, match='no train_dataloader.dataset'):
        find_multi_view_crop(Config(dict(model=dict(type='BYOL'))))


def test_multi_view_crop_inside_wrapper_datasets():
    mvc = dict(type='mmalfm.MultiViewCrop', views=[dict(kind='whole',
                                                        size=32)])
    inner = dict(type='ProposalDataset', dataset=dict(type='X'),
                 pipeline=[dict(type='LoadImageWithCheck'), mvc])
    for dataset in (dict(type='RepeatDataset', times=2, dataset=inner),
                    dict(type='ConcatDataset',
                         datasets=[dict(type='X', pipeline=[]), inner])):
        cfg = Config(dict(train_dataloader=dict(dataset=dataset)))
        assert find_multi_view_crop(cfg) == mvc


def test_built_as_configured():
    """The sampler and the views are the config's, not a copy of them."""
    cfg = Config.fromfile(DUPR_DEMO)
    transform, _ = build_view_transform(cfg)
    configured = cfg.train_dataloader.dataset.pipeline[1]
    assert [s.size for s in transform.expanded] == \
        [(v['size'], v['size']) for v in configured['views']]
    assert transform.max_tries == configured['max_tries'] == 10
    sampler = transform.region_sampler
    assert type(sampler).__name__ == configured['region_sampler']['type']
    assert sampler.needs_proposals is False
    soco, _ = build_view_transform(
        'mmalfm::soco/soco_resnet18-fpn_1xb8-coslr-10e_demo')
    assert soco.region_sampler.needs_proposals is True
    assert [s.size for s in soco.expanded] == [(64, 64), (64, 64), (32, 32)]


def test_view_size_follows_cfg_options(tiny_demo_data, tmp_path):
    """``cfg_options`` change view 1 of the DUPR demo from 64 to 48 px:
    the drawn view panel follows."""
    scale = 2
    records = browse_views(
        DUPR_DEMO, str(tmp_path), data_root=osp.join(tiny_demo_data, 'coco'),
        num=1, seed=0, scale=scale,
        cfg_options={'train_dataloader.dataset.pipeline.1.views.1.size': 48})
    rec = records[0]
    assert osp.dirname(rec['path']) == str(
        tmp_path / 'dupr_resnet18q_1xb8-coslr-10e_demo')
    canvas = cv2.imread(rec['path'])
    assert rec['geometry'].out_size.long().tolist() == [[64, 64], [48, 48]]
    y0 = HEADER_H + LABEL_H
    x1, _ = rec['layout']['views'][1]
    assert rec['layout']['row_h'] == 64 * scale
    assert canvas.shape[1] == x1 + 48 * scale + MARGIN
    # the view fills 96 x 96 px; below it the background shows
    below = canvas[y0 + 48 * scale:y0 + 64 * scale, x1:x1 + 48 * scale]
    assert (below == BACKGROUND).all()
    view = canvas[y0:y0 + 48 * scale, x1:x1 + 48 * scale]
    assert (view != BACKGROUND).any(-1).mean() > 0.9


def test_stand_in_proposals(monkeypatch):
    """Without the selective-search module: random boxes and a warning."""
    monkeypatch.setitem(sys.modules, 'mmalfm.datasets.proposals', None)
    img = np.zeros((50, 80, 3), np.uint8)
    with pytest.warns(UserWarning, match='random boxes'):
        boxes, source = compute_proposals(img, np.random.default_rng(0))
    assert source == 'random' and boxes.shape == (NUM_RANDOM_PROPOSALS, 4)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 80).all() and \
        (boxes[:, 3] <= 50).all() and (boxes[:, 2:] > boxes[:, :2]).all()
