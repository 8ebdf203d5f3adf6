# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for ``tools/analysis/browse_views.py`` (run in-process on the
method configs; the drawing itself is tested in
``tests/test_visualization/``)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmalfm.apis import browse_views_cli as bv
from mmalfm.apis.demo_data import make_demo_data
from mmalfm.structures import src_to_view
from mmalfm.visualization import build_view_transform, id_colour
from mmalfm.visualization.layout import HEADER_H, LABEL_H, MARGIN

REPO = Path(__file__).resolve().parents[2]
#: The method configs drawn (demo configs where the method has one).
CONFIGS = {
    'soco': 'configs/soco/soco_resnet18-fpn_1xb8-coslr-10e_demo.py',
    'soco-star': 'configs/soco/soco-star_resnet50-fpn_8xb128-coslr-400e_'
    'in1k.py',
    'crosscl': 'configs/crosscl/crosscl_resnet18q_1xb8-coslr-10e_demo.py',
    'dupr': 'configs/dupr/dupr_resnet18q_1xb8-coslr-10e_demo.py',
    'alfm': 'configs/alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py',
}
SCALE = 2


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> Path:
    """3 train images of 96-128 px; COCO layout under ``coco/``."""
    out = tmp_path_factory.mktemp('demo')
    make_demo_data(out, num_train=3, num_val=0, min_size=96, max_size=128)
    return out / 'coco'


def _run(demo: Path, out: Path, method: str, *extra: str) -> list:
    return bv.main([
        str(REPO / CONFIGS[method]), '--num', '2', '--seed', '0',
        '--data-root', str(demo), '--out', str(out), '--scale', str(SCALE),
        *extra
    ])


def _panel_x(src_hw, out_sizes, scale):
    """x of the source panel's right end and of every view panel, computed
    from the geometry alone (the layout the tool documents)."""
    row_h = max(h for _, h in out_sizes) * scale
    src_w = int(round(src_hw[1] * row_h / src_hw[0]))
    x = MARGIN + src_w + MARGIN
    xs = []
    for w, _ in out_sizes:
        xs.append(x)
        x += w * scale + MARGIN
    return src_w, xs, x


def _edge_fraction(canvas: np.ndarray, rect, colour, clip) -> float:
    """Fraction of the rectangle's outline pixels (inside ``clip``) with a
    pixel of exactly ``colour`` within one pixel (lines are 2 px wide)."""
    x1, y1, x2, y2 = (int(round(v)) for v in rect)
    x2, y2 = max(x2 - 1, x1), max(y2 - 1, y1)
    cx1, cy1, cx2, cy2 = clip
    pts = [(x, y) for x in range(x1, x2 + 1) for y in (y1, y2)]
    pts += [(x, y) for y in range(y1, y2 + 1) for x in (x1, x2)]
    pts = [(x, y) for x, y in pts if cx1 <= x < cx2 and cy1 <= y < cy2]
    assert pts, f'box {rect} lies outside its panel {clip}'
    hit = (canvas == np.array(colour, np.uint8)).all(-1)
    hit = cv2.dilate(hit.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return float(np.mean([hit[y, x] for x, y in pts]))


def _check_box(canvas, rec, xs, view, src_box, region_id):
    geom = rec['geometry']
    w, h = geom.out_size[view].long().tolist()
    box = src_to_view(torch.as_tensor(src_box, dtype=torch.float64)[None],
                      geom[view])[0].numpy() * SCALE
    y0 = HEADER_H + LABEL_H
    rect = box + np.array([xs[view], y0, xs[view], y0])
    clip = (xs[view], y0, xs[view] + w * SCALE, y0 + h * SCALE)
    frac = _edge_fraction(canvas, rect, id_colour(region_id), clip)
    assert frac >= 0.5, (f'id {region_id} in view {view}: only {frac:.0%} '
                         f'of its outline has its colour')


@pytest.mark.parametrize('method', sorted(CONFIGS))
def test_browse_views(demo, tmp_path, method):
    extra = []
    if method == 'soco-star':  # a SoCo legacy proposal file (xywh)
        props = {f'{i:06d}': [[5, 5, 60, 50], [30, 20, 50, 60],
                              [10, 40, 70, 40]]
                 for i in range(1, 4)}
        path = tmp_path / 'props.json'
        path.write_text(json.dumps(props))
        extra = ['--proposals', str(path)]
    records = _run(demo, tmp_path, method, *extra)
    assert len(records) == 2
    transform, _ = build_view_transform(str(REPO / CONFIGS[method]))
    checked = 0
    for rec in records:
        assert Path(rec['path']).is_file()
        # OUT/<config name>/
        assert Path(rec['path']).parent == tmp_path / Path(
            CONFIGS[method]).stem
        if method in ('soco', 'alfm'):
            assert rec['proposals'] == 'selective search'
        canvas = cv2.imread(rec['path'])
        src = cv2.imread(rec['img_path'])
        geom = rec['geometry']
        out_sizes = geom.out_size.long().tolist()
        # the views are the config's
        assert out_sizes == [list(s.size) for s in transform.expanded]
        _, xs, width = _panel_x(src.shape[:2], out_sizes, SCALE)
        assert canvas.shape[1] == width
        row_h = max(h for _, h in out_sizes) * SCALE
        assert canvas.shape[0] > HEADER_H + LABEL_H + row_h

        # the largest id matched by the first pair: its colour on its box
        # edge in both views (matched ids are drawn last, by id); a draw
        # may legitimately match nothing (CrossCL: no window inside the key
        # view), but not both draws here
        reg = rec['regions']
        s, t = reg['pairs'][0]
        common = sorted(set(reg['ids'][s][reg['ids'][s] >= 0].tolist())
                        & set(reg['ids'][t].tolist()))
        if not common:
            continue
        checked += 1
        region_id = common[-1]
        for k in (s, t):
            row = int(np.nonzero(reg['ids'][k] == region_id)[0][0])
            _check_box(canvas, rec, xs, int(reg['views'][k]),
                       reg['boxes'][k][row], region_id)
        # ALFM local views: the region is the whole patch
        for k in reg['info'].get('local_sets', []):
            _check_box(canvas, rec, xs, int(reg['views'][k]),
                       reg['boxes'][k][0], int(reg['ids'][k][0]))
    assert checked, 'no image matched any id in its first pair'


def test_deterministic(demo, tmp_path):
    a = _run(demo, tmp_path / 'a', 'dupr')
    b = _run(demo, tmp_path / 'b', 'dupr')
    for ra, rb in zip(a, b):
        assert ra['img_path'] == rb['img_path']
        assert np.array_equal(cv2.imread(ra['path']), cv2.imread(rb['path']))


def test_mmalfm_config_and_cfg_options(demo, tmp_path, capsys):
    """``mmalfm::`` names a config; ``--cfg-options`` reach its pipeline;
    every PNG path and pair line is printed."""
    records = bv.main([
        'mmalfm::dupr/dupr_resnet18q_1xb8-coslr-10e_demo', '--num', '1',
        '--data-root', str(demo), '--out', str(tmp_path), '--scale', '1',
        '--cfg-options', 'train_dataloader.dataset.pipeline.1.views.0.size=40'
    ])
    assert records[0]['geometry'].out_size.long().tolist() == [[40, 40],
                                                               [64, 64]]
    h, w = cv2.imread(records[0]['img_path']).shape[:2]
    src_w = int(round(w * 64 / h))
    assert cv2.imread(records[0]['path']).shape[1] == \
        MARGIN + src_w + MARGIN + 40 + MARGIN + 64 + MARGIN
    matched = records[0]['pairs'][0]['matched']
    assert capsys.readouterr().out.splitlines() == [
        records[0]['path'],
        f'  view 0 <-> view 1: {len(matched)} matched ids {matched}'
    ]


def test_no_multi_view_crop(demo, tmp_path):
    config = str(REPO / 'configs/byol/byol_resnet18q_1xb8-coslr-10e_demo.py')
    with pytest.raises(ValueError, match='byol_resnet18q_1xb8-coslr-10e_demo'):
        bv.main([config, '--data-root', str(demo), '--out', str(tmp_path)])
