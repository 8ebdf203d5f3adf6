# Copyright (c) mmalfm contributors. All rights reserved.
"""Selective search, SoCo's proposal filters and the proposal file format."""
import json
import os

import numpy as np
import pytest
from skimage.feature import local_binary_pattern

from mmalfm.datasets.proposals import (filter_min_size, filter_post,
                                       filter_ratio, filter_ratio_size,
                                       load_proposals, parse_strategy,
                                       read_proposal_file, save_proposals,
                                       selective_search)
from mmalfm.datasets.proposals import io as proposal_io
from mmalfm.datasets.proposals.hints import name_sample, tool_command
from mmalfm.datasets.proposals.selective_search import (
    _lbp_numpy, _selective_search_reference)


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------
def _rows(boxes) -> list:
    return np.asarray(boxes).reshape(-1, 4).tolist()


def test_min_size_boundary():
    boxes = [[0, 0, 31, 40], [0, 0, 32, 40], [0, 0, 40, 31], [0, 0, 32, 32]]
    assert _rows(filter_min_size(boxes)) == [[0, 0, 32, 40], [0, 0, 32, 32]]


def test_ratio_boundary_inclusive():
    boxes = [
        [0, 0, 96, 32],  # w/h == 3: kept
        [0, 0, 97, 32],  # > 3
        [0, 0, 32, 96],  # w/h == 1/3: kept
        [0, 0, 32, 97],  # < 1/3
        [0, 0, 31, 93],  # ratio 1/3 but w < 32
        [1, 2, 50, 50],
    ]
    assert _rows(filter_ratio(boxes, r=3)) == [[0, 0, 96, 32], [0, 0, 32, 96],
                                                [1, 2, 50, 50]]


def test_ratio_size_boundaries():
    # 200 x 200 image: sqrt(w*h)/200 is exactly 0.3 for 60x60, 0.8 for 160
    boxes = [
        [0, 0, 59, 60],  # 0.2975 < 0.3
        [0, 0, 60, 60],  # == 0.3 kept
        [0, 0, 160, 160],  # == 0.8 kept
        [0, 0, 160, 161],  # > 0.8
        [0, 0, 120, 40],  # ratio 3, size 0.3464 kept
        [0, 0, 121, 40],  # ratio > 3
    ]
    kept = filter_ratio_size(boxes, 200, 200, r=3, min_ratio=0.3,
                             max_ratio=0.8)
    assert _rows(kept) == [[0, 0, 60, 60], [0, 0, 160, 160], [0, 0, 120, 40]]
    # the min size still applies to the size filter: 31 px wide is out even
    # where the relative size fits (100 x 100 image, 0.3 <= 0.31 <= 0.8)
    kept = filter_ratio_size([[0, 0, 31, 31], [0, 0, 32, 32]], 100, 100)
    assert _rows(kept) == [[0, 0, 32, 32]]


def test_ratio_size_uses_width_and_height_of_image():
    # W*H = 400*100: sqrt = 200; a 60x60 box is at 0.3 exactly
    assert len(filter_ratio_size([[0, 0, 60, 60]], 400, 100)) == 1
    assert len(filter_ratio_size([[0, 0, 60, 59]], 400, 100)) == 0


def test_post_fallback_order():
    img_w = img_h = 200
    good = [5, 5, 100, 100]  # passes everything
    too_big = [0, 0, 190, 190]  # size 0.95 > 0.8, ratio ok
    elongated = [0, 0, 150, 40]  # ratio 3.75 > 3, min size ok
    tiny = [0, 0, 20, 20]  # fails min size

    boxes, stage = filter_post([tiny, good, too_big], img_w, img_h,
                               return_stage=True)
    assert (_rows(boxes), stage) == ([good], 'ratio_size')
    # nothing within the size range -> ratio-only filter
    boxes, stage = filter_post([elongated, too_big, tiny], img_w, img_h,
                               return_stage=True)
    assert (_rows(boxes), stage) == ([too_big], 'ratio')
    # nothing with a valid ratio -> min-size-only filter
    boxes, stage = filter_post([tiny, elongated], img_w, img_h,
                               return_stage=True)
    assert (_rows(boxes), stage) == ([elongated], 'min_size')
    # nothing at all -> empty
    boxes, stage = filter_post([tiny], img_w, img_h, return_stage=True)
    assert boxes.shape == (0, 4) and stage == 'empty'
    boxes, stage = filter_post(np.zeros((0, 4), int), img_w, img_h,
                               return_stage=True)
    assert boxes.shape == (0, 4) and stage == 'empty'
    # without "post" there is no fallback; "none" keeps everything
    assert len(filter_post([elongated], img_w, img_h, 'ratio3size0308')) == 0
    assert _rows(filter_post([tiny, elongated], img_w, img_h,
                             'none')) == [tiny, elongated]


def test_parse_strategy():
    assert parse_strategy('ratio3size0308post') == dict(
        r=3, min_ratio=0.3, max_ratio=0.8, post=True)
    assert parse_strategy('ratio2size0110') == dict(
        r=2, min_ratio=0.1, max_ratio=1.0, post=False)
    with pytest.raises(ValueError, match='unknown filter strategy'):
        parse_strategy('ratio3size38')


# --------------------------------------------------------------------------
# Selective search
# --------------------------------------------------------------------------
def _rectangles_image():
    """Flat background with three flat rectangles; returns the image and
    the rectangles' xywh in SoCo's convention (w = max_x - min_x)."""
    height, width = 120, 160
    img = np.full((height, width, 3), (40, 90, 200), np.uint8)
    expected = []
    for x, y, w_px, h_px, colour in [(10, 15, 50, 40, (230, 40, 30)),
                                     (90, 20, 45, 70, (30, 200, 60)),
                                     (30, 75, 40, 30, (250, 240, 20))]:
        img[y:y + h_px, x:x + w_px] = colour
        expected.append((x, y, w_px - 1, h_px - 1))
    return img, expected


def _textured_image(height=48, width=64, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([(x * 4) % 256, (y * 5) % 256, ((x * y) // 3) % 256], -1)
    img = img + rng.integers(0, 60, (height, width, 3))
    img[10:30, 5:25] = rng.integers(0, 256, 3)
    img[20:40, 35:60] = img[20:40, 35:60] // 4 + rng.integers(
        0, 256, (20, 25, 3)) // 2
    return np.clip(img, 0, 255).astype(np.uint8)


def _tiled_image():
    """Identical flat tiles on a flat background: many exactly tied
    similarities, so the tie-breaking rule decides the merge order."""
    img = np.full((64, 64, 3), 20, np.uint8)
    for y in (4, 36):
        for x in (4, 36):
            img[y:y + 24, x:x + 24] = (200, 120, 40)
    return img


def test_rectangles_are_proposed_exactly():
    img, expected = _rectangles_image()
    boxes = selective_search(img, scale=300, sigma=0.9, min_size=100)
    assert boxes.dtype == np.int64 and boxes.shape[1] == 4
    found = set(map(tuple, boxes.tolist()))
    for rect in expected:
        assert rect in found
    height, width = img.shape[:2]
    assert (0, 0, width - 1, height - 1) in found
    # the last merge is the whole image; nothing is larger than the image
    assert tuple(boxes[-1]) == (0, 0, width - 1, height - 1)
    assert (boxes[:, :2] >= 0).all()
    assert (boxes[:, 0] + boxes[:, 2] <= width - 1).all()
    assert (boxes[:, 1] + boxes[:, 3] <= height - 1).all()


@pytest.mark.parametrize('colour_hist', ['soco', 'hsv'])
@pytest.mark.parametrize('neighbours', ['adjacency', 'bbox'])
@pytest.mark.parametrize('image,kwargs,min_regions', [
    ('textured', dict(), 5),
    ('textured', dict(scale=30, sigma=0.9, min_size=5), 100),
    ('tiled', dict(scale=300, sigma=0.9, min_size=10), 5),
])
def test_vectorised_matches_reference(image, kwargs, min_regions,
                                      colour_hist, neighbours):
    img = _textured_image() if image == 'textured' else _tiled_image()
    fast = selective_search(
        img, colour_hist=colour_hist, neighbours=neighbours, **kwargs)
    slow = _selective_search_reference(
        img, colour_hist=colour_hist, neighbours=neighbours, **kwargs)
    assert len(fast) >= min_regions
    # same regions in the same order (hence the same set of boxes)
    np.testing.assert_array_equal(fast, slow)


def test_colour_modes_differ():
    """'soco' ignores hue and saturation, 'hsv' does not: on a textured
    image the merge order (hence the boxes) differs."""
    img = _textured_image()
    kwargs = dict(scale=30, sigma=0.9, min_size=5)
    soco = selective_search(img, colour_hist='soco', **kwargs)
    hsv = selective_search(img, colour_hist='hsv', **kwargs)
    assert soco.tolist() != hsv.tolist()


@pytest.mark.parametrize('shape', [(1, 1), (2, 7), (37, 29), (50, 3)])
def test_numpy_lbp_matches_skimage(shape):
    rng = np.random.default_rng(sum(shape))
    channel = rng.integers(0, 256, shape, dtype=np.uint8)
    channel[:shape[0] // 2, :shape[1] // 2] = 128  # ties with neighbours
    codes = _lbp_numpy(channel)
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(codes, local_binary_pattern(channel, 8, 1.0))


def test_input_checks():
    img, _ = _rectangles_image()
    with pytest.raises(TypeError, match='uint8'):
        selective_search(img.astype(np.float32) / 255)
    with pytest.raises(ValueError, match='RGB'):
        selective_search(img[..., 0])
    with pytest.raises(ValueError, match='colour_hist'):
        selective_search(img, colour_hist='lab')
    with pytest.raises(ValueError, match='neighbours'):
        selective_search(img, neighbours='8')


# --------------------------------------------------------------------------
# File format
# --------------------------------------------------------------------------
def test_round_trip(tmp_path):
    path = str(tmp_path / 'props.json')
    images = {
        'n01/a.jpg': np.array([[1, 2, 30, 40], [0, 0, 99, 49]]),
        'n01/b.jpg': [],
        'c.png': [[5, 6, 7, 8]],
    }
    meta = dict(method='selective_search', params=dict(scale=300),
                filter='ratio3size0308post')
    save_proposals(path, images, failed={'bad.jpg': 'ValueError: x'},
                   meta=meta)
    with open(path) as f:
        raw = json.load(f)
    assert list(raw) == ['format', 'version', 'box_format', 'images',
                         'empty', 'failed', 'meta']
    assert raw['format'] == 'mmalfm-proposals' and raw['version'] == 1
    assert raw['box_format'] == 'xywh'
    assert raw['images'] == {
        'n01/a.jpg': [[1, 2, 30, 40], [0, 0, 99, 49]],
        'n01/b.jpg': [],
        'c.png': [[5, 6, 7, 8]]
    }
    assert raw['empty'] == ['n01/b.jpg']
    assert raw['failed'] == {'bad.jpg': 'ValueError: x'}
    assert raw['meta'] == meta

    loaded = load_proposals(path)
    assert list(loaded) == ['n01/a.jpg', 'n01/b.jpg', 'c.png']
    assert loaded['n01/a.jpg'].dtype == np.float32
    np.testing.assert_array_equal(loaded['n01/a.jpg'],
                                  [[1, 2, 31, 42], [0, 0, 99, 49]])
    assert loaded['n01/b.jpg'].shape == (0, 4)
    np.testing.assert_array_equal(loaded['c.png'], [[5, 6, 12, 14]])
    full = read_proposal_file(path)
    assert not full['legacy'] and full['failed'] == raw['failed']
    assert full['meta'] == meta


def test_legacy_soco_file(tmp_path):
    path = tmp_path / 'train_ratio3size0308post.json'
    path.write_text(json.dumps({
        'n01440764_10026': [[10, 20, 100, 50], [0, 0, 32, 32]],
        'n01440764_10027': [],
    }))
    loaded = load_proposals(str(path))
    assert list(loaded) == ['n01440764_10026', 'n01440764_10027']
    np.testing.assert_array_equal(loaded['n01440764_10026'],
                                  [[10, 20, 110, 70], [0, 0, 32, 32]])
    assert loaded['n01440764_10027'].shape == (0, 4)
    full = read_proposal_file(str(path))
    assert full['legacy'] and full['empty'] == ['n01440764_10027']


def test_xyxy_file_is_read_as_is(tmp_path):
    path = tmp_path / 'p.json'
    path.write_text(json.dumps({
        'format': 'mmalfm-proposals', 'version': 1, 'box_format': 'xyxy',
        'images': {'a.jpg': [[1, 2, 3, 4]]}}))
    np.testing.assert_array_equal(load_proposals(str(path))['a.jpg'],
                                  [[1, 2, 3, 4]])


@pytest.mark.parametrize('content,match', [
    ({'format': 'other', 'version': 1, 'images': {}}, 'unknown format'),
    ({'format': 'mmalfm-proposals', 'version': 2, 'images': {}}, 'version'),
    ({'format': 'mmalfm-proposals', 'version': 1, 'box_format': 'cxcywh',
      'images': {}}, 'box_format'),
    ({'a': [[1, 2, 3]]}, 'boxes of 4 numbers'),
    ({'a': 'x'}, 'neither'),
    ([], 'expected a JSON object'),
])
def test_bad_files_are_refused(tmp_path, content, match):
    path = tmp_path / 'p.json'
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=match) as err:
        load_proposals(str(path))
    assert str(err.value).startswith(repr(str(path)))  # names the file


def test_invalid_json_names_the_file_line_and_column(tmp_path):
    path = tmp_path / 'p.json'
    path.write_text('{"format": "mmalfm-proposals",\n "version": 1,\n'
                    ' "images": {"a.jpg": [[1, 2, 3, 4]]\n')
    with pytest.raises(json.JSONDecodeError) as err:
        read_proposal_file(str(path))
    assert str(err.value) == (
        f"{str(path)!r} is not valid JSON (it ends early: a truncated "
        "file): Expecting ',' delimiter: line 4 column 1 (char 82)")
    assert (err.value.lineno, err.value.colno) == (4, 1)


def test_strict_boxes_keep_numbers_as_stored(tmp_path):
    path = tmp_path / 'p.json'
    path.write_text(json.dumps({'format': 'mmalfm-proposals', 'version': 1,
                                'images': {'a.jpg': [[1, 2.5, 3, 4]],
                                           'b.jpg': []}}))
    record = read_proposal_file(str(path))
    assert record['images']['a.jpg'].dtype == np.float64
    assert record['images']['a.jpg'].tolist() == [[1, 2.5, 3, 4]]
    assert record['images']['b.jpg'].shape == (0, 4)
    assert record['empty'] == [] and record['failed'] == {}


# --------------------------------------------------------------------------
# Hints
# --------------------------------------------------------------------------
def test_tool_command_uses_the_recorded_parameters():
    assert tool_command('data/imgs', 'p.json') == \
        'python tools/data/selective_search.py data/imgs p.json'
    # the prefix is left out when it is the source folder itself
    assert tool_command('data/imgs/', 'p.json', 'data/imgs') == \
        'python tools/data/selective_search.py data/imgs/ p.json'
    meta = dict(filter='ratio3size0308post',
                params=dict(implementation='skimage', scale=300.0, sigma=0.8,
                            min_size=100, colour_hist='hsv',
                            neighbours='bbox', max_side=0))
    assert tool_command('a b/coco.json', 'o.json', 'a b/train', meta) == (
        "python tools/data/selective_search.py 'a b/coco.json' o.json "
        "--img-prefix 'a b/train' --sigma 0.8 --colour-hist hsv")
    opencv = dict(filter='none', params=dict(implementation='opencv-fast',
                                             opencv_mode='fast', max_side=0))
    assert tool_command('imgs', 'o.json', meta=opencv) == (
        'python tools/data/selective_search.py imgs o.json --method '
        'opencv-fast --filter none')


def test_name_sample():
    assert name_sample(['a', 'b']) == "'a', 'b'"
    assert name_sample(list('abcdefg')) == \
        "'a', 'b', 'c', 'd', 'e' (and 2 more)"
    assert name_sample(['a', 'b'], ['x' * 10, 'y'], width=5) == \
        "'a' (xx...), 'b' (y)"


def test_atomic_write(tmp_path, monkeypatch):
    path = tmp_path / 'props.json'
    save_proposals(str(path), {'a.jpg': [[1, 2, 3, 4]]})
    before = path.read_bytes()

    def broken_dump(obj, f, **kwargs):
        f.write('{"format": "mmalfm-propos')  # a partial write, then ...
        raise RuntimeError('disk full')

    monkeypatch.setattr(proposal_io.json, 'dump', broken_dump)
    with pytest.raises(RuntimeError, match='disk full'):
        save_proposals(str(path), {'b.jpg': [[5, 6, 7, 8]]})
    # the old file is intact and no temporary file is left behind
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['props.json']
    # a new file is not created at all
    with pytest.raises(RuntimeError, match='disk full'):
        save_proposals(str(tmp_path / 'new.json'), {'b.jpg': []})
    assert os.listdir(tmp_path) == ['props.json']
