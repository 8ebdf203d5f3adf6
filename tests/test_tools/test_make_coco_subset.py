# Copyright (c) mmalfm contributors. All rights reserved.
"""tools/data/make_coco_subset.py: deterministic image-level subsets."""
import json

import pytest
from conftest import PYTHON, run_tool

from mmalfm.apis import coco_subset as subset_tool


def _coco(num_images: int = 50) -> dict:
    """Images 1..N; image i holds i % 3 annotations; three categories."""
    images = [dict(id=i, file_name=f'{i:06d}.jpg', width=64, height=48)
              for i in range(1, num_images + 1)]
    anns, ann_id = [], 1
    for img in images:
        for k in range(img['id'] % 3):
            anns.append(
                dict(id=ann_id, image_id=img['id'], category_id=k + 1,
                     bbox=[1, 2, 3, 4], area=12, iscrowd=0))
            ann_id += 1
    return dict(
        info=dict(description='toy'),
        licenses=[],
        images=images,
        annotations=anns,
        categories=[dict(id=c, name=f'c{c}') for c in (1, 2, 3)])


@pytest.fixture
def ann_file(tmp_path):
    path = tmp_path / 'instances_train.json'
    path.write_text(json.dumps(_coco()))
    return path


# round(N * P / 100), halves up, at least one image: 50 x 5 % = 2.5 -> 3,
# 50 x 1 % = 0.5 -> 1, 50 x 3 % = 1.5 -> 2, COCO train2017 (118287 images)
# x 1 % = 1182.87 -> 1183, x 10 % = 11828.7 -> 11829.
@pytest.mark.parametrize('num, percent, expected',
                         [(50, 10, 5), (50, 5, 3), (50, 1, 1), (50, 3, 2),
                          (50, 0.1, 1), (50, 100, 50), (118287, 1, 1183),
                          (118287, 10, 11829)])
def test_subset_size(num, percent, expected):
    assert subset_tool.subset_size(num, percent) == expected


@pytest.mark.parametrize('percent', [0, -1, 100.5])
def test_bad_percent(percent):
    with pytest.raises(ValueError, match='percent'):
        subset_tool.subset_size(50, percent)


def test_subset_content(ann_file, tmp_path):
    out = tmp_path / 'sub.json'
    record = subset_tool.make_coco_subset(str(ann_file), str(out), 10, 3)
    sub = json.loads(out.read_text())
    full = _coco()
    ids = [img['id'] for img in sub['images']]
    assert len(ids) == 5 == record['num_images']
    assert ids == sorted(ids)  # source order kept
    # every annotation of a picked image and nothing else
    expected = [a for a in full['annotations'] if a['image_id'] in set(ids)]
    assert sub['annotations'] == expected
    assert record['num_annotations'] == len(expected)
    assert sub['categories'] == full['categories']
    assert sub['info'] == full['info'] and sub['licenses'] == []
    assert sub['subset'] == dict(
        source='instances_train.json', percent=10, seed=3, num_images=5,
        num_annotations=len(expected), num_source_images=50)


def test_deterministic_per_seed_and_seeds_differ(ann_file, tmp_path):
    a, b, c = (tmp_path / n for n in ('a.json', 'b.json', 'c.json'))
    run_tool([PYTHON, 'tools/data/make_coco_subset.py', str(ann_file),
              str(a), '--percent', '20', '--seed', '7'])
    subset_tool.make_coco_subset(str(ann_file), str(b), 20, 7)
    subset_tool.make_coco_subset(str(ann_file), str(c), 20, 8)
    assert a.read_bytes() == b.read_bytes()
    ids = [{img['id'] for img in json.loads(p.read_text())['images']}
           for p in (a, c)]
    assert len(ids[0]) == len(ids[1]) == 10 and ids[0] != ids[1]


def test_refuses_to_overwrite_the_source(ann_file):
    with pytest.raises(ValueError, match='overwrite'):
        subset_tool.make_coco_subset(str(ann_file), str(ann_file), 10)


def test_not_a_coco_file(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(images=[])))
    with pytest.raises(KeyError, match='bad.json.*annotations'):
        subset_tool.make_coco_subset(str(bad), str(tmp_path / 'o.json'), 10)
