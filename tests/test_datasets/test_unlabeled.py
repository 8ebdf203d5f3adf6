# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for ``mmalfm/datasets/unlabeled.py`` (``UnlabeledImageDataset``)."""
import json
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.apis.demo_data import make_demo_data
from mmalfm.datasets import UnlabeledImageDataset
from mmalfm.registry import DATASETS

NUM_TRAIN, NUM_VAL = 5, 2


@pytest.fixture(scope='module')
def demo(tmp_path_factory) -> dict:
    """A tiny generated COCO-format data set (5 train / 2 val images)."""
    out = tmp_path_factory.mktemp('unlabeled_demo')
    return make_demo_data(
        out, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, min_size=32,
        max_size=48)


def _write_image(path: Path, shape=(6, 5)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full(shape + (3, ), 128, dtype=np.uint8)
    ext = path.suffix.lower()
    if ext in ('.jpg', '.jpeg', '.png', '.bmp'):
        assert cv2.imwrite(str(path.with_suffix(ext)), image)
        if path.suffix != ext:  # cv2 picks the codec by a lower-case name
            path.with_suffix(ext).rename(path)
    else:
        path.write_bytes(b'not decoded in these tests')


# Relative paths of the folder tree, in the dataset's exact order: each
# folder's files (sorted by name, byte order) before its sub-folders (sorted).
FOLDER_IMAGES = [
    'B.JPG',
    'a.jpg',
    'c.Png',
    'n01/x.JPEG',
    'n01/y.webp',
    'n01/zz/deep.bmp',
    'n02/a.tiff',
    'n02/b.tif',
]
FOLDER_OTHERS = ['README.txt', 'n01/labels.json', 'n02/notes.md',
                 'n02/image.jpg.bak', 'n01/zz/.hidden', 'noext']


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / 'data'
    for rel in FOLDER_IMAGES:
        _write_image(root / 'train' / rel)
    for rel in FOLDER_OTHERS:
        path = root / 'train' / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('not an image')
    (root / 'train' / 'empty_dir').mkdir()
    return root


# --------------------------------------------------------------------------
# Folder mode
# --------------------------------------------------------------------------
def test_folder_mode(folder):
    ds = UnlabeledImageDataset(
        data_root=str(folder), data_prefix=dict(img_path='train/'))
    assert len(ds) == len(FOLDER_IMAGES)
    assert [ds.get_data_info(i)['img_path'] for i in range(len(ds))] == [
        osp.join(str(folder), 'train', rel) for rel in FOLDER_IMAGES
    ]
    info = ds.get_data_info(0)
    assert set(info) == {'img_path', 'sample_idx'}
    assert info['sample_idx'] == 0
    assert ds.get_data_info(len(ds) - 1)['sample_idx'] == len(ds) - 1
    assert ds.metainfo == {}


def test_folder_mode_absolute_prefix_without_data_root(folder):
    ds = UnlabeledImageDataset(
        data_prefix=dict(img_path=str(folder / 'train' / 'n01')))
    assert [ds.get_data_info(i)['img_path'] for i in range(len(ds))] == [
        str(folder / 'train' / 'n01' / name)
        for name in ('x.JPEG', 'y.webp', 'zz/deep.bmp')
    ]


def test_folder_mode_custom_extensions(folder):
    ds = UnlabeledImageDataset(
        data_root=str(folder),
        data_prefix=dict(img_path='train'),
        extensions=('.PNG', '.bmp'))
    assert [ds.get_data_info(i)['img_path'] for i in range(len(ds))] == [
        osp.join(str(folder), 'train', rel)
        for rel in ('c.Png', 'n01/zz/deep.bmp')
    ]


def test_folder_mode_is_deterministic(folder):
    kwargs = dict(data_root=str(folder), data_prefix=dict(img_path='train/'))
    first = UnlabeledImageDataset(**kwargs)
    second = UnlabeledImageDataset(**kwargs)
    assert [first.get_data_info(i) for i in range(len(first))] == \
        [second.get_data_info(i) for i in range(len(second))]


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        UnlabeledImageDataset(
            data_root=str(tmp_path), data_prefix=dict(img_path='nowhere/'))
    assert osp.join(str(tmp_path), 'nowhere') in str(info.value)


def test_folder_without_images(tmp_path):
    root = tmp_path / 'empty'
    (root / 'sub').mkdir(parents=True)
    (root / 'notes.txt').write_text('no images here')
    with pytest.raises(ValueError) as info:
        UnlabeledImageDataset(data_prefix=dict(img_path=str(root)))
    assert str(root) in str(info.value)
    assert 'no images' in str(info.value)


# --------------------------------------------------------------------------
# List-file mode
# --------------------------------------------------------------------------
def test_list_mode(tmp_path):
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'train.txt').write_text(
        'n02/b.JPEG 7\n'
        '\n'
        'n01/a.jpg\n'
        '   \n'
        'n01/c.png\t12\n'
        '  n03/d.jpg   999 extra columns\n'
        'n03/e.jpg')  # no trailing newline
    ds = UnlabeledImageDataset(
        ann_file='meta/train.txt',
        data_root=str(tmp_path),
        data_prefix=dict(img_path='train/'))
    # File order is kept (not sorted); labels and blank lines are ignored;
    # the files need not exist yet (they are read by the pipeline).
    assert len(ds) == 5
    assert [ds.get_data_info(i)['img_path'] for i in range(5)] == [
        osp.join(str(tmp_path), 'train', rel) for rel in
        ('n02/b.JPEG', 'n01/a.jpg', 'n01/c.png', 'n03/d.jpg', 'n03/e.jpg')
    ]
    assert set(ds.get_data_info(0)) == {'img_path', 'sample_idx'}


def test_empty_list_file(tmp_path):
    path = tmp_path / 'train.txt'
    path.write_text('\n  \n\n')
    with pytest.raises(ValueError) as info:
        UnlabeledImageDataset(
            ann_file=str(path), data_prefix=dict(img_path=str(tmp_path)))
    assert str(path) in str(info.value)


def test_missing_list_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        UnlabeledImageDataset(
            ann_file='meta/missing.txt', data_root=str(tmp_path))
    assert 'missing.txt' in str(info.value)


# --------------------------------------------------------------------------
# COCO-json mode
# --------------------------------------------------------------------------
def _coco_images(demo, split='train') -> list:
    with open(demo['ann_files'][split]) as f:
        return json.load(f)['images']


def test_coco_mode(demo):
    ds = UnlabeledImageDataset(
        ann_file='annotations/instances_train2017.json',
        data_root=demo['coco_root'],
        data_prefix=dict(img_path='train2017/'))
    images = sorted(_coco_images(demo), key=lambda img: img['id'])
    assert len(ds) == NUM_TRAIN == len(images)
    for index, image in enumerate(images):
        info = ds.get_data_info(index)
        assert info == dict(
            img_path=osp.join(demo['coco_root'], 'train2017',
                              image['file_name']),
            img_id=image['id'],
            width=image['width'],
            height=image['height'],
            sample_idx=index)
        assert osp.isfile(info['img_path'])
    # Annotations and categories are ignored.
    assert ds.metainfo == {}
    assert 'instances' not in ds.get_data_info(0)


def test_coco_mode_sorts_by_image_id(demo, tmp_path):
    with open(demo['ann_files']['val']) as f:
        coco = json.load(f)
    train = _coco_images(demo)
    # Shuffled ids, from both splits, under their own folders.
    coco['images'] = [
        dict(train[3], file_name='train2017/' + train[3]['file_name']),
        dict(coco['images'][1], file_name='val2017/' +
             coco['images'][1]['file_name']),
        dict(train[0], file_name='train2017/' + train[0]['file_name']),
        dict(coco['images'][0], file_name='val2017/' +
             coco['images'][0]['file_name']),
    ]
    path = tmp_path / 'mixed.json'
    path.write_text(json.dumps(coco))
    ds = UnlabeledImageDataset(
        ann_file=str(path), data_prefix=dict(img_path=demo['coco_root']))
    expected_ids = sorted(img['id'] for img in coco['images'])
    assert [ds.get_data_info(i)['img_id'] for i in range(4)] == expected_ids
    assert expected_ids == [1, 4, NUM_TRAIN + 1, NUM_TRAIN + 2]
    by_id = {img['id']: img for img in coco['images']}
    for i in range(4):
        info = ds.get_data_info(i)
        image = by_id[info['img_id']]
        assert info['img_path'] == osp.join(demo['coco_root'],
                                            image['file_name'])
        assert (info['width'], info['height']) == (image['width'],
                                                   image['height'])
        assert osp.isfile(info['img_path'])


def test_coco_mode_without_sizes(tmp_path):
    path = tmp_path / 'min.json'
    path.write_text(json.dumps(dict(images=[dict(id=3, file_name='c.jpg')])))
    ds = UnlabeledImageDataset(
        ann_file=str(path), data_prefix=dict(img_path=str(tmp_path)))
    assert ds.get_data_info(0) == dict(
        img_path=str(tmp_path / 'c.jpg'),
        img_id=3,
        width=None,
        height=None,
        sample_idx=0)


def test_json_without_images(tmp_path):
    path = tmp_path / 'not_coco.json'
    path.write_text(json.dumps(dict(annotations=[], categories=[])))
    with pytest.raises(ValueError) as info:
        UnlabeledImageDataset(
            ann_file=str(path), data_prefix=dict(img_path=str(tmp_path)))
    assert str(path) in str(info.value)
    assert 'images' in str(info.value)


def test_json_with_empty_images(tmp_path):
    path = tmp_path / 'empty.json'
    path.write_text(json.dumps(dict(images=[], annotations=[])))
    with pytest.raises(ValueError) as info:
        UnlabeledImageDataset(
            ann_file=str(path), data_prefix=dict(img_path=str(tmp_path)))
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------
# With a pipeline, through the registry
# --------------------------------------------------------------------------
def test_load_image_pipeline(demo):
    images = sorted(_coco_images(demo), key=lambda img: img['id'])
    with DefaultScope.overwrite_default_scope('mmalfm'):
        ds = DATASETS.build(
            dict(
                type='UnlabeledImageDataset',
                ann_file='annotations/instances_train2017.json',
                data_root=demo['coco_root'],
                data_prefix=dict(img_path='train2017/'),
                pipeline=[dict(type='LoadImageFromFile')]))
        assert type(ds) is UnlabeledImageDataset
        for index in (0, len(ds) - 1):
            item = ds[index]
            image = images[index]
            real = cv2.imread(
                osp.join(demo['img_dirs']['train'], image['file_name']))
            assert item['img'].shape == real.shape
            assert item['img'].shape == (image['height'], image['width'], 3)
            assert item['img_shape'] == real.shape[:2]
            np.testing.assert_array_equal(item['img'], real)
            assert item['img_id'] == image['id']


def test_load_image_pipeline_folder_mode(demo):
    with DefaultScope.overwrite_default_scope('mmalfm'):
        ds = DATASETS.build(
            dict(
                type='UnlabeledImageDataset',
                data_prefix=dict(img_path=demo['img_dirs']['val']),
                pipeline=[dict(type='LoadImageFromFile')]))
    assert len(ds) == NUM_VAL
    first = sorted(Path(demo['img_dirs']['val']).glob('*.jpg'))[0]
    assert ds[0]['img_path'] == str(first)
    assert ds[0]['img'].shape == cv2.imread(str(first)).shape


def test_indices_and_serialization(folder):
    ds = UnlabeledImageDataset(
        data_root=str(folder),
        data_prefix=dict(img_path='train/'),
        indices=3,
        serialize_data=False)
    assert len(ds) == 3
    assert ds.get_data_info(2)['img_path'] == osp.join(
        str(folder), 'train', FOLDER_IMAGES[2])
