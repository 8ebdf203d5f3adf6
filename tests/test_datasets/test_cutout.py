# Copyright (c) mmalfm contributors. All rights reserved.
"""RegionCutout: SoCo's box cutout on hand-placed boxes."""
import numpy as np
import pytest
import torch

from mmalfm.datasets.transforms import RegionCutout
from mmalfm.registry import TRANSFORMS
from mmalfm.structures import ViewGeometry

BGR_MEAN = np.array([104, 116, 124], np.uint8)  # rint of the reversed mean


def _results(boxes1, boxes2=None, flip2=False, ids=None):
    """Three 40x40 views of a 100x100 source (fake pixels, value 7).

    V0 = whole source at 40x40 (unused); V1 = crop (10, 10, 50, 50), scale
    1; V2 = crop (0, 0, 80, 80) at 40x40 (scale 1/2), optionally flipped.
    Sets: (V0, V1) and (V0, V2) with the given source boxes.
    """
    boxes1 = np.asarray(boxes1, np.float32).reshape(-1, 4)
    boxes2 = boxes1 if boxes2 is None else np.asarray(
        boxes2, np.float32).reshape(-1, 4)
    geom = ViewGeometry(
        torch.tensor([[0., 0., 100., 100.], [10., 10., 50., 50.],
                      [0., 0., 80., 80.]], dtype=torch.float64), 40,
        torch.tensor([False, False, flip2]))
    ids1 = np.arange(1, len(boxes1) + 1) if ids is None else np.asarray(ids)
    ids2 = np.arange(1, len(boxes2) + 1)
    return dict(
        img=[np.full((40, 40, 3), 7, np.uint8) for _ in range(3)],
        view_geometry=geom.to_dict(),
        regions=dict(
            views=np.array([0, 1, 0, 2]),
            ids=[ids1, ids1, ids2, ids2],
            boxes=[boxes1, boxes1, boxes2, boxes2],
            pairs=np.array([[0, 1], [2, 3]])))


def _cut_mask(img):
    return (img != 7).any(-1)


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def _draws(seed, num, area_ratio, first, last):
    """Replay the transform's randomness for one view with ``num`` boxes."""
    np.random.seed(seed)
    rng = np.random.default_rng(np.random.randint(0, 2**63 - 1,
                                                  dtype=np.int64))
    coin = rng.random(num)
    ratio = rng.uniform(area_ratio[0], area_ratio[1], num)
    centre = rng.integers(np.asarray(first), np.asarray(last) + 1)
    return coin, ratio, centre


def test_hand_placed_box_exact_square_in_that_view_only():
    # source box (20, 14, 40, 34): view-1 pixels (10, 4, 30, 24), 20 x 20
    t = RegionCutout(views=(1, ), prob=1., area_ratio=(0.2, 0.3))
    res = _results([[20, 14, 40, 34]])
    before = [im.copy() for im in res['img']]
    np.random.seed(3)
    out = t(res)
    _, ratio, centre = _draws(3, 1, (0.2, 0.3), [[10, 4]], [[29, 23]])
    side = int(np.rint(np.sqrt(ratio[0] * 400)))
    assert 9 <= side <= 11
    cx, cy = centre[0]
    assert 10 <= cx <= 29 and 4 <= cy <= 23
    x1, y1 = cx - side // 2, cy - side // 2
    expected = np.zeros((40, 40), bool)
    expected[max(y1, 0):y1 + side, max(x1, 0):x1 + side] = True
    mask = _cut_mask(out['img'][1])
    assert (mask == expected).all()
    assert expected.sum() == side * side  # not clipped here
    assert (out['img'][1][mask] == BGR_MEAN).all()  # BGR mean colour
    # the other views are untouched (and not copied)
    assert out['img'][0] is res['img'][0] or (out['img'][0]
                                              == before[0]).all()
    assert (out['img'][0] == before[0]).all()
    assert (out['img'][2] == before[2]).all()


def test_fixed_ratio_square_side_and_centre_range():
    t = RegionCutout(views=(1, ), prob=1., area_ratio=(0.25, 0.25))
    for seed in range(20):
        np.random.seed(seed)
        out = t(_results([[25, 25, 45, 45]]))  # view (15, 15, 35, 35)
        mask = _cut_mask(out['img'][1])
        x1, y1, x2, y2 = _bbox(mask)
        assert x2 - x1 == y2 - y1 == 10  # round(sqrt(0.25 * 400))
        assert mask.sum() == 100
        cx, cy = x1 + 5, y1 + 5  # centre = start + side // 2
        assert 15 <= cx <= 34 and 15 <= cy <= 34


def test_prob_zero_leaves_images_unchanged():
    t = RegionCutout(prob=0.)
    res = _results([[20, 14, 40, 34], [0, 0, 100, 100]])
    before = [im.copy() for im in res['img']]
    np.random.seed(0)
    out = t(res)
    for a, b in zip(out['img'], before):
        assert (a == b).all()


def test_views_not_listed_untouched():
    res = _results([[20, 14, 40, 34]])
    np.random.seed(0)
    out = RegionCutout(views=(2, ), prob=1.)(res)
    assert not _cut_mask(out['img'][0]).any()
    assert not _cut_mask(out['img'][1]).any()
    assert _cut_mask(out['img'][2]).any()
    # a listed view that does not exist (C4 has no V3) is ignored
    np.random.seed(0)
    out = RegionCutout(views=(1, 5), prob=1.)(_results([[20, 14, 40, 34]]))
    assert _cut_mask(out['img'][1]).any()


def test_box_at_the_view_border_is_clipped():
    # view-1 box (0, 0, 4, 4) at the top-left corner; side 4 with ratio 1
    t = RegionCutout(views=(1, ), prob=1., area_ratio=(1., 1.))
    np.random.seed(5)
    out = t(_results([[10, 10, 14, 14]]))
    _, _, centre = _draws(5, 1, (1., 1.), [[0, 0]], [[3, 3]])
    cx, cy = centre[0]
    x1, y1 = cx - 2, cy - 2
    expected = np.zeros((40, 40), bool)
    expected[max(y1, 0):y1 + 4, max(x1, 0):x1 + 4] = True
    assert (_cut_mask(out['img'][1]) == expected).all()
    assert expected.sum() < 16  # clipped
    # a box at the bottom-right corner: the square is clipped to the view
    clipped = 0
    for seed in range(10):
        np.random.seed(seed)
        out = t(_results([[30, 30, 50, 50]]))  # view (20, 20, 40, 40)
        _, _, centre = _draws(seed, 1, (1., 1.), [[20, 20]], [[39, 39]])
        cx, cy = centre[0]
        expected = np.zeros((40, 40), bool)
        expected[cy - 10:cy + 10, cx - 10:cx + 10] = True  # side 20
        mask = _cut_mask(out['img'][1])
        assert (mask == expected).all()
        clipped += int(cx > 30 or cy > 30)
    assert clipped >= 5


def test_flipped_scaled_view_and_every_row_cut():
    # V2: scale 1/2 and flipped: source (0, 0, 20, 20) -> view (30, 0, 40,
    # 10). Two identical (padded duplicate) rows and a sentinel row: all
    # three are cut candidates (released behaviour).
    t = RegionCutout(views=(2, ), prob=1., area_ratio=(1., 1.))
    np.random.seed(1)
    out = t(_results([[0, 0, 20, 20]], boxes2=[[0, 0, 20, 20]] * 2 +
                     [[0, 0, 80, 80]], flip2=True))
    _, _, centre = _draws(1, 3, (1., 1.), [[30, 0]] * 2 + [[0, 0]],
                          [[39, 9]] * 2 + [[39, 39]])
    expected = np.zeros((40, 40), bool)
    for (cx, cy), side in zip(centre, (10, 10, 40)):
        x1, y1 = cx - side // 2, cy - side // 2
        expected[max(y1, 0):y1 + side, max(x1, 0):x1 + side] = True
    assert (_cut_mask(out['img'][2]) == expected).all()


def test_fill_rgb_and_explicit_and_build():
    t = TRANSFORMS.build(
        dict(type='RegionCutout', views=(1, ), prob=1.,
             channel_order='rgb'))
    np.random.seed(0)
    img = t(_results([[20, 14, 40, 34]]))['img'][1]
    assert (img[_cut_mask(img)] == [124, 116, 104]).all()
    t = RegionCutout(views=(1, ), prob=1., fill=0)
    np.random.seed(0)
    img = t(_results([[20, 14, 40, 34]]))['img'][1]
    assert (img[_cut_mask(img)] == 0).all() and _cut_mask(img).any()
    with pytest.raises(ValueError):
        RegionCutout(fill='zero')
    with pytest.raises(ValueError):
        RegionCutout(prob=2)
    with pytest.raises(KeyError, match='regions'):
        res = _results([[0, 0, 1, 1]])
        del res['regions']
        RegionCutout()(res)
    assert 'RegionCutout(views=(1, 2)' in repr(RegionCutout())


@pytest.mark.parametrize('name,views', [
    ('soco_resnet50-fpn_8xb128-coslr-100e_in1k', (1, 2)),
    ('soco_resnet50-c4_8xb128-coslr-100e_in1k', (1, )),
    ('soco_resnet50-c4_8xb128-coslr-400e_in1k', (1, )),
    ('soco_resnet50-fpn_8xb128-coslr-400e_in1k', None),
    ('soco-star_resnet50-fpn_8xb128-coslr-400e_in1k', None),
    ('soco_resnet50-fpn_8xb128-coslr-400e_coco', None),
])
def test_configs_use_cutout_where_released(name, views):
    from conftest import REPO
    from mmengine.config import Config
    cfg = Config.fromfile(f'{REPO}/configs/soco/{name}.py')
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    if views is None:
        assert 'RegionCutout' not in types
        return
    assert types[-3:] == ['ViewPipelines', 'RegionCutout',
                          'PackMultiViewInputs']
    cut = cfg.train_dataloader.dataset.pipeline[-2]
    assert tuple(cut['views']) == views
    assert cut['prob'] == 0.5 and tuple(cut['area_ratio']) == (0.1, 0.3)
