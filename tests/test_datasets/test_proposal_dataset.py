# Copyright (c) mmalfm contributors. All rights reserved.
"""ProposalDataset: file formats, joining and bad input (4 fake images)."""
import json

import numpy as np
import pytest

from mmalfm.datasets import ProposalDataset, proposal_dataset
from mmalfm.registry import DATASETS

IMAGES = ['a/x1.jpg', 'a/x2.jpg', 'b/y1.jpg', 'b/y2.jpg']


@pytest.fixture
def root(tmp_path):
    for rel in IMAGES:  # the folder scan only needs the names
        path = tmp_path / 'imgs' / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'')
    return tmp_path


def _inner(root):
    return dict(type='UnlabeledImageDataset', data_root=str(root),
                data_prefix=dict(img_path='imgs'))


def _write(root, content, name='props.json'):
    path = root / name
    path.write_text(json.dumps(content))
    return str(path)


def _new_format(images, box_format='xywh'):
    return {'format': 'mmalfm-proposals', 'version': 1,
            'box_format': box_format, 'images': images,
            'meta': {'tool': 'test'}}


def _props(ds):
    return {
        ds.get_data_info(i)['img_path'].split('imgs/')[-1]:
        ds.get_data_info(i)['proposals'].tolist()
        for i in range(len(ds))
    }


def test_new_format_xywh_by_relative_path(root):
    images = {'a/x1.jpg': [[1, 2, 3, 4]], 'a/x2.jpg': [],
              './b/y1.jpg': [[0, 0, 5, 5], [1, 1, 2, 2]],
              'b/y2.jpg': [[2.5, 2, 1, 1]]}
    ds = DATASETS.build(dict(type='ProposalDataset', dataset=_inner(root),
                             proposal_file=_write(root, _new_format(images))))
    assert len(ds) == 4
    info = ds.get_data_info(0)
    assert info['proposals'].dtype == np.float32
    assert info['sample_idx'] == 0 and 'proposal_slot' not in info
    assert _props(ds) == {
        'a/x1.jpg': [[1, 2, 4, 6]],  # (x, y, x + w, y + h): no +1
        'a/x2.jpg': [],
        'b/y1.jpg': [[0, 0, 5, 5], [1, 1, 3, 3]],
        'b/y2.jpg': [[2.5, 2, 3.5, 3]],
    }
    assert ds.get_data_info(1)['proposals'].shape == (0, 4)
    # one flat array + offsets, not a dict of lists
    assert ds.boxes.shape == (4, 4) and ds.offsets.tolist() == [0, 1, 1, 3, 4]
    assert ds.num_missing == ds.num_clipped == ds.num_dropped == 0
    # the pipeline sees the proposals too
    assert ds[2]['proposals'].shape == (2, 4)


def test_new_format_xyxy(root):
    images = {rel: [[1, 2, 3, 4]] for rel in IMAGES}
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=_write(root,
                                              _new_format(images, 'xyxy')))
    assert all(p == [[1, 2, 3, 4]] for p in _props(ds).values())


def test_legacy_soco_file_by_basename_stem(root):
    # SoCo looks proposals up by basename(path).split('.')[0]
    legacy = {'x1': [[1, 2, 3, 4]], 'x2': [[0, 0, 1, 1]],
              'y1': [], 'y2.jpg': [[4, 4, 2, 2]]}
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=_write(root, legacy))
    assert _props(ds) == {'a/x1.jpg': [[1, 2, 4, 6]],
                          'a/x2.jpg': [[0, 0, 1, 1]], 'b/y1.jpg': [],
                          'b/y2.jpg': [[4, 4, 6, 6]]}


def test_basename_fallback_for_other_prefix(root):
    images = {f'train2017/{rel.split("/")[1]}': [[0, 0, 2, 2]]
              for rel in IMAGES}
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=_write(root, _new_format(images)),
                         data_root=str(root))
    assert all(p == [[0, 0, 2, 2]] for p in _props(ds).values())


def test_file_for_another_image_set_names_both(root):
    images = {'other/z1.jpg': [[0, 0, 1, 1]], 'a/x1.jpg': [[0, 0, 1, 1]]}
    path = _write(root, _new_format(images))
    with pytest.raises(ValueError, match='another image set') as err:
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=path)
    assert path in str(err.value)  # the proposal file
    assert str(root / 'imgs') in str(err.value)  # and the image set
    assert '1 of the 4' in str(err.value)


def test_some_missing_get_empty_and_are_counted(root, monkeypatch):
    logged = []
    monkeypatch.setattr(proposal_dataset, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    images = {rel: [[0, 0, 1, 1]] for rel in IMAGES[:3]}
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=_write(root, _new_format(images)),
                         missing='whole_image')
    assert ds.num_missing == 1
    assert ds.get_data_info(3)['proposals'].shape == (0, 4)
    assert len(logged) == 1 and '1 images have no entry' in logged[0]


def test_missing_images_are_an_error_by_default(root, monkeypatch):
    logged = []
    monkeypatch.setattr(proposal_dataset, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    # 2 of 4 found: passes the min_found check, then the missing check
    images = {'a/x1.jpg': [[0, 0, 1, 1]], 'b/y1.jpg': []}
    path = _write(root, _new_format(images))
    with pytest.raises(ValueError, match='no entry for 2 of the 4') as err:
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=path)
    msg = str(err.value)
    assert path in msg  # the proposal file
    assert "'a/x2.jpg', 'b/y2.jpg'" in msg  # the missing images
    assert 'Regenerate' in msg and "missing='whole_image'" in msg
    assert 'more)' not in msg and not logged
    # an empty list is an entry: not missing
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=path, missing='whole_image')
    assert ds.num_missing == 2
    assert [ds.num_proposals(i) for i in range(4)] == [1, 0, 0, 0]
    assert len(logged) == 1 and '2 images have no entry' in logged[0]
    with pytest.raises(ValueError, match='missing must be one of'):
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=path, missing='ignore')


def test_missing_error_names_at_most_five(tmp_path):
    names = [f'im{i:02d}.jpg' for i in range(20)]
    for rel in names:
        (tmp_path / 'imgs').mkdir(exist_ok=True)
        (tmp_path / 'imgs' / rel).write_bytes(b'')
    images = {rel: [[0, 0, 1, 1]] for rel in names[:12]}
    with pytest.raises(ValueError) as err:
        ProposalDataset(serialize_data=False, dataset=_inner(tmp_path),
                        proposal_file=_write(tmp_path, _new_format(images)))
    msg = str(err.value)
    assert 'no entry for 8 of the 20' in msg
    assert ', '.join(repr(n) for n in names[12:17]) in msg
    assert repr(names[17]) not in msg and '(and 3 more)' in msg


def test_clip_and_drop_are_counted(root):
    coco = dict(images=[
        dict(id=1, file_name='a/x1.jpg', width=10, height=8),
        dict(id=2, file_name='a/x2.jpg', width=10, height=8),
    ])
    (root / 'coco.json').write_text(json.dumps(coco))
    inner = dict(type='UnlabeledImageDataset', data_root=str(root),
                 ann_file='coco.json', data_prefix=dict(img_path='imgs'))
    images = {
        'a/x1.jpg': [[-2, 1, 4, 3],  # x clipped at 0 -> (0, 1, 2, 4)
                     [6, 6, 8, 8],  # clipped to (6, 6, 10, 8)
                     [3, 3, 0, 5],  # zero width: dropped
                     [3, 3, -1, 2]],  # negative width: dropped
        'a/x2.jpg': [[12, 1, 3, 3],  # right of the image: empty, dropped
                     [1, 1, 2, 2]],
    }
    ds = ProposalDataset(serialize_data=False, dataset=inner,
                         proposal_file=_write(root, _new_format(images)))
    assert _props(ds) == {'a/x1.jpg': [[0, 1, 2, 4], [6, 6, 10, 8]],
                          'a/x2.jpg': [[1, 1, 3, 3]]}
    assert ds.num_clipped == 2 and ds.num_dropped == 3


def test_bad_files_and_configs(root):
    with pytest.raises(ValueError, match='version'):
        ProposalDataset(
            serialize_data=False,
            dataset=_inner(root),
            proposal_file=_write(root, dict(_new_format({}), version=2)))
    with pytest.raises(ValueError, match='4 numbers'):
        ProposalDataset(
            serialize_data=False,
            dataset=_inner(root),
            proposal_file=_write(
                root, _new_format({rel: [[1, 2, 3]] for rel in IMAGES})))
    with pytest.raises(ValueError, match='nor a SoCo proposal file'):
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=_write(root, {'x1': 3}))
    with pytest.raises(ValueError, match='pipeline on ProposalDataset'):
        ProposalDataset(
            serialize_data=False,
            dataset=dict(_inner(root), pipeline=[dict(type='Solarize')]),
            proposal_file=_write(root, {}))
