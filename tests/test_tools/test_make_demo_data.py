# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for :mod:`mmalfm.apis.demo_data` (``tools/data/make_demo_data.py``
is its command line)."""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmalfm.apis import demo_data as mdd

NUM_TRAIN, NUM_VAL, SEED = 6, 3, 0
SPLITS = ('train', 'val')


def _generate(out_dir: Path, seed: int = SEED) -> dict:
    return mdd.make_demo_data(
        out_dir, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=seed)


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> dict:
    """One generated data set shared by the read-only tests."""
    return _generate(tmp_path_factory.mktemp('demo') / 'demo')


def _generated_files(root: Path) -> dict:
    """Map relative path -> bytes for every generated json/xml/jpg/txt."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob('*'))
        if p.is_file() and p.suffix in ('.json', '.xml', '.jpg', '.txt')
    }


def test_deterministic_and_seed_dependent(tmp_path, demo):
    first = _generated_files(Path(demo['out_dir']))
    second_info = _generate(tmp_path / 'again')
    second = _generated_files(tmp_path / 'again')
    assert second_info['num_images'] == dict(train=NUM_TRAIN, val=NUM_VAL)
    n_images = NUM_TRAIN + NUM_VAL
    # 2 json, n xml, 2 * n jpg (coco + voc), 4 image sets
    assert len(first) == 2 + n_images + 2 * n_images + 4
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name

    # Re-running into an existing folder with fewer images overwrites it and
    # leaves no stale files behind.
    mdd.make_demo_data(tmp_path / 'again', num_train=2, num_val=1, seed=SEED)
    shrunk = _generated_files(tmp_path / 'again')
    assert len(shrunk) == 2 + 3 + 2 * 3 + 4
    # Images depend only on (seed, image id), so the first two are unchanged.
    assert shrunk['coco/train2017/000001.jpg'] == first[
        'coco/train2017/000001.jpg']

    other = _generate(tmp_path / 'other', seed=SEED + 1)
    other_json = Path(other['ann_files']['train']).read_bytes()
    assert other_json != first['coco/annotations/instances_train2017.json']


def test_layout_and_summary(demo):
    root = Path(demo['out_dir'])
    assert demo['num_images'] == dict(train=NUM_TRAIN, val=NUM_VAL)
    assert demo['classes'] == mdd.CLASSES == tuple(demo['classes'])
    assert len(mdd.CLASSES) == 4
    assert (root / 'README.md').is_file()
    readme = (root / 'README.md').read_text()
    assert 'make_demo_data.py' in readme and 'triangle' in readme
    voc_imgs = root / 'VOCdevkit' / 'VOC2007' / 'JPEGImages'
    for split, img_dir in demo['img_dirs'].items():
        for jpg in Path(img_dir).glob('*.jpg'):
            # the VOC copy is the very same file content
            assert (voc_imgs / jpg.name).read_bytes() == jpg.read_bytes()


@pytest.mark.parametrize('split', SPLITS)
def test_coco_annotations(demo, split):
    coco = COCO(demo['ann_files'][split])
    img_dir = Path(demo['img_dirs'][split])
    expected = NUM_TRAIN if split == 'train' else NUM_VAL
    assert len(coco.imgs) == expected
    assert sorted(coco.getCatIds()) == [1, 2, 3, 4]
    assert [coco.cats[i]['name'] for i in (1, 2, 3, 4)] == list(mdd.CLASSES)
    for img_id, img in coco.imgs.items():
        assert 128 <= img['width'] <= 256 and 128 <= img['height'] <= 256
        jpg = cv2.imread(str(img_dir / img['file_name']))
        assert jpg is not None
        assert jpg.shape == (img['height'], img['width'], 3)
        anns = coco.imgToAnns[img_id]
        assert len(anns) >= 1
        for ann in anns:
            x, y, w, h = ann['bbox']
            assert w > 0 and h > 0
            assert x >= 0 and y >= 0
            assert x + w <= img['width'] and y + h <= img['height']
            assert ann['category_id'] in (1, 2, 3, 4)
            assert ann['iscrowd'] == 0
            assert ann['area'] > 0
            assert ann['area'] <= w * h
            polys = ann['segmentation']
            assert polys and all(
                len(p) >= 6 and len(p) % 2 == 0 for p in polys)
            rles = mask_utils.frPyObjects(polys, img['height'], img['width'])
            decoded = mask_utils.decode(mask_utils.merge(rles))
            # Polygons are traced on half-pixel vertices and pycocotools
            # fills pixel i when i lies in [left, right) of the polygon, so
            # the round trip is pixel-exact by construction (a plain
            # findContours trace would lose ~1 px ring on the right/bottom,
            # >25 % of the smallest objects, and need a loose tolerance).
            assert int(decoded.sum()) == ann['area'], (img_id, ann['id'])
            # The traced mask never leaves the (tight) visible bbox.
            ys, xs = np.nonzero(decoded)
            if len(xs):
                assert xs.min() >= x and xs.max() < x + w
                assert ys.min() >= y and ys.max() < y + h
    ann_ids = [a['id'] for a in coco.dataset['annotations']]
    assert len(ann_ids) == len(set(ann_ids))


def test_voc_matches_coco(demo):
    voc = Path(demo['voc_root'])
    sets = voc / 'ImageSets' / 'Main'
    stems = {}
    for split in SPLITS:
        coco = COCO(demo['ann_files'][split])
        stems[split] = sorted(
            Path(img['file_name']).stem for img in coco.imgs.values())
        for img_id, img in coco.imgs.items():
            stem = Path(img['file_name']).stem
            root = ET.parse(voc / 'Annotations' / f'{stem}.xml').getroot()
            assert root.findtext('filename') == img['file_name']
            assert int(root.findtext('size/width')) == img['width']
            assert int(root.findtext('size/height')) == img['height']
            assert int(root.findtext('size/depth')) == 3
            voc_objects = []
            for obj in root.findall('object'):
                assert obj.findtext('pose') == 'Unspecified'
                assert obj.findtext('truncated') == '0'
                assert obj.findtext('difficult') == '0'
                voc_objects.append((obj.findtext('name'), ) + tuple(
                    int(obj.findtext(f'bndbox/{k}'))
                    for k in ('xmin', 'ymin', 'xmax', 'ymax')))
            # Documented rule: 1-based inclusive pixel indices,
            # xmin = x + 1, ymin = y + 1, xmax = x + w, ymax = y + h.
            coco_objects = []
            for ann in coco.imgToAnns[img_id]:
                x, y, w, h = ann['bbox']
                coco_objects.append(
                    (mdd.CLASSES[ann['category_id'] - 1], int(x) + 1,
                     int(y) + 1, int(x + w), int(y + h)))
            assert voc_objects == coco_objects
    n_xml = len(list((voc / 'Annotations').glob('*.xml')))
    n_jpg = len(list((voc / 'JPEGImages').glob('*.jpg')))
    assert n_xml == n_jpg == NUM_TRAIN + NUM_VAL

    def read(name):
        return (sets / f'{name}.txt').read_text().split()

    assert read('train') == read('trainval') == stems['train']
    assert read('val') == read('test') == stems['val']
    assert not set(stems['train']) & set(stems['val'])


def _round_trip(mask: np.ndarray) -> np.ndarray:
    polys = mdd.mask_to_polygons(mask)
    rles = mask_utils.frPyObjects(polys, *mask.shape)
    return mask_utils.decode(mask_utils.merge(rles))


def test_mask_to_polygons_is_pixel_exact():
    mask = np.zeros((40, 40), np.uint8)
    mask[5:35, 5:35] = 1
    mask[15:25, 15:25] = 0  # a hole, e.g. an occluding object inside
    mask[12:20, 30:33] = 0  # a notch
    mask[37:39, 2:20] = 1  # a second part
    assert len(mdd.mask_to_polygons(mask)) == 2
    np.testing.assert_array_equal(_round_trip(mask), mask)
    # one-pixel-wide slivers, single pixels and diagonal staircases too
    odd = np.zeros((12, 12), np.uint8)
    odd[2, 2:8] = 1
    odd[9, 9] = 1
    odd[np.arange(4, 9), np.arange(1, 6)] = 1
    np.testing.assert_array_equal(_round_trip(odd), odd)
    assert mdd.mask_to_polygons(np.zeros((5, 5), np.uint8)) == []
    # the fallback box polygon covers exactly the box's pixels
    box = np.zeros((10, 10), np.uint8)
    box[2:5, 3:9] = 1
    rles = mask_utils.frPyObjects([mdd.bbox_to_polygon(mdd.mask_to_bbox(box))],
                                  10, 10)
    np.testing.assert_array_equal(
        mask_utils.decode(mask_utils.merge(rles)), box)


def test_cli_and_bad_args(tmp_path, capsys):
    mdd.main([
        str(tmp_path / 'cli'), '--num-train', '1', '--num-val', '1', '--seed',
        '3', '--min-size', '64', '--max-size', '64'
    ])
    out = capsys.readouterr().out
    assert 'Wrote 1 train / 1 val images' in out
    data = json.loads((tmp_path / 'cli' / 'coco' / 'annotations' /
                       'instances_val2017.json').read_text())
    assert [img['id'] for img in data['images']] == [2]
    assert data['images'][0]['width'] == data['images'][0]['height'] == 64
    with pytest.raises(ValueError):
        mdd.make_demo_data(tmp_path / 'bad', min_size=300, max_size=200)


def test_mmdet_coco_dataset(demo):
    pytest.importorskip('mmdet')
    try:
        from mmdet.datasets import CocoDataset, VOCDataset
        from mmdet.utils import register_all_modules
    except ImportError as exc:  # e.g. mmcv ops missing
        pytest.skip(f'mmdet is not importable: {exc}')
    register_all_modules()
    for split in SPLITS:
        ds = CocoDataset(
            data_root=demo['coco_root'],
            ann_file=f'annotations/instances_{split}2017.json',
            data_prefix=dict(img=f'{split}2017/'),
            metainfo=dict(classes=mdd.CLASSES),
            pipeline=[],
            test_mode=False)
        assert len(ds) == demo['num_images'][split]
        info = ds[0]
        assert Path(info['img_path']).is_file()
        assert len(info['instances']) >= 1

        voc = VOCDataset(
            data_root=str(Path(demo['voc_root']).parent),
            ann_file=f'VOC2007/ImageSets/Main/{split}.txt',
            data_prefix=dict(sub_data_root='VOC2007/'),
            metainfo=dict(classes=mdd.CLASSES),
            pipeline=[],
            test_mode=False)
        assert len(voc) == len(ds)
        voc_info = voc[0]
        assert voc_info['img_path'].endswith(Path(info['img_path']).name)
        # XMLDataset subtracts 1 from all four VOC corners:
        # [x, y, x + w - 1, y + h - 1] against COCO's [x, y, x + w, y + h].
        assert [i['bbox_label'] for i in voc_info['instances']
                ] == [i['bbox_label'] for i in info['instances']]
        for voc_inst, coco_inst in zip(voc_info['instances'],
                                       info['instances']):
            x1, y1, x2, y2 = coco_inst['bbox']
            assert voc_inst['bbox'] == [x1, y1, x2 - 1, y2 - 1]
