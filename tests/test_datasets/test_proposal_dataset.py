# Copyright (c) mmalfm contributors. All rights reserved.
"""ProposalDataset: file formats, joining and bad input (4 fake images)."""
import json
import logging

import numpy as np
import pytest
from mmengine.logging import MMLogger

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


def _new_format(images, box_format='xywh', **extra):
    """A proposal file; ``extra`` sets ``empty``, ``failed``, ``meta``."""
    return dict({'format': 'mmalfm-proposals', 'version': 1,
                 'box_format': box_format, 'images': images,
                 'meta': {'tool': 'test'}}, **extra)


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
    # the missing count, then the no-proposal fraction (25 % < 50 %)
    assert len(logged) == 2 and '1 images have no entry' in logged[0]
    assert '1 of the 4 images (25.0%) have no usable proposal' in logged[1]
    assert '(1 without an entry)' in logged[1]
    assert ds.num_empty == 1 and ds.empty_fraction == 0.25


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
    assert 'never processed' in msg and "missing='whole_image'" in msg
    # the fix: the tool's command line for this image folder and file
    assert f'`python tools/data/selective_search.py {root}/imgs {path}`' \
        in msg
    assert 'more)' not in msg and not logged
    # an empty list is an entry: not missing
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=path, missing='whole_image',
                         max_empty_fraction=1.0)
    assert ds.num_missing == 2
    assert [ds.num_proposals(i) for i in range(4)] == [1, 0, 0, 0]
    assert len(logged) == 2 and '2 images have no entry' in logged[0]
    assert '(1 listed as empty, 2 without an entry)' in logged[1]
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


# --------------------------------------------------------------------------
# The contract: failed / empty images are known, missing ones are not
# --------------------------------------------------------------------------
REASON = 'ValueError: OpenCV cannot decode it (empty, not an image or corrupt)'


@pytest.fixture
def logged(monkeypatch):
    """``(message, kwargs)`` of every ``print_log`` of the dataset."""
    calls = []
    monkeypatch.setattr(proposal_dataset, 'print_log',
                        lambda msg, **kw: calls.append((msg, kw)))
    return calls


class _Records(logging.Handler):
    """Collects ``(level, message)`` of a real logger (INFO and above:
    not MMEngine's registry debug messages)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelno, record.getMessage()))


def _coco_inner(root, names=IMAGES, size=(10, 8)):
    """A COCO list of ``names`` (``width``/``height`` = ``size``)."""
    coco = dict(images=[
        dict(id=i + 1, file_name=n, width=size[0], height=size[1])
        for i, n in enumerate(names)
    ])
    (root / 'coco.json').write_text(json.dumps(coco))
    return dict(type='UnlabeledImageDataset', data_root=str(root),
                ann_file='coco.json', data_prefix=dict(img_path='imgs'))


def _paths(ds):
    return [ds.get_data_info(i)['img_path'].split('imgs/')[-1]
            for i in range(len(ds))]


def test_failed_image_is_skipped_by_default_and_logged_once(root):
    images = {rel: [[0, 0, 2, 2]] for rel in IMAGES[:3]}
    path = _write(root, _new_format(images, failed={'b/y2.jpg': REASON}))
    handler = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        ds = ProposalDataset(dataset=_inner(root), proposal_file=path)
    finally:
        logger.removeHandler(handler)
    assert len(ds) == 3  # exactly the failed image is left out
    assert _paths(ds) == IMAGES[:3]
    assert [ds.num_proposals(i) for i in range(3)] == [1, 1, 1]
    assert ds.get_data_info(2)['sample_idx'] == 2
    assert ds.num_failed == 1 and ds.num_missing == 0
    assert ds.num_empty == 0 and ds.empty_fraction == 0.0
    # one warning: the count, the name with its reason and the fix
    assert len(handler.records) == 1
    level, msg = handler.records[0]
    assert level == logging.WARNING
    assert f'1 of the 4 images of {str(root / "imgs")!r} are listed as ' \
        'unreadable (under "failed")' in msg
    assert path in msg and "left out of the dataset (failed='skip')" in msg
    assert f"'b/y2.jpg' ({REASON})" in msg
    assert 're-encode or replace them' in msg
    assert f'`python tools/data/selective_search.py {root}/imgs {path}`' \
        in msg


def test_failed_image_whole_image_keeps_it_without_proposals(root, logged):
    images = {rel: [[0, 0, 2, 2]] for rel in IMAGES[:3]}
    path = _write(root, _new_format(images, failed={'b/y2.jpg': REASON}))
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=path, failed='whole_image')
    assert _paths(ds) == IMAGES
    assert [ds.num_proposals(i) for i in range(4)] == [1, 1, 1, 0]
    assert ds.get_data_info(3)['proposals'].shape == (0, 4)
    assert ds.num_failed == 1 and ds.num_empty == 1
    assert [kw for _, kw in logged] == [
        dict(logger='current', level=logging.WARNING)] * 2
    assert "kept with no proposals (failed='whole_image')" in logged[0][0]
    assert logged[1][0] == (
        f"ProposalDataset: in {path!r}, 1 of the 4 images (25.0%) have no "
        "usable proposal (1 unreadable (listed as failed)): 'b/y2.jpg'; they "
        'train on the whole-image fallback box only.')


def test_failed_image_error_names_it_and_the_fix(root, logged):
    images = {rel: [[0, 0, 2, 2]] for rel in IMAGES[:3]}
    path = _write(root, _new_format(images, failed={'b/y2.jpg': REASON}))
    with pytest.raises(ValueError) as err:
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=path, failed='error')
    msg = str(err.value)
    assert msg.startswith(f'Proposal file {path!r} lists 1 of the 4 images ')
    assert f"as unreadable (under \"failed\"): 'b/y2.jpg' ({REASON})." in msg
    assert 'Regenerating the proposals does not help' in msg
    assert "failed='skip'" in msg and "failed='whole_image'" in msg
    assert not logged
    with pytest.raises(ValueError, match='failed must be one of'):
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=path, failed='ignore')


def test_all_failed_images_skipped_is_an_error(root, logged):
    path = _write(root, _new_format({}, failed={r: REASON for r in IMAGES}))
    with pytest.raises(ValueError, match="failed='skip' would leave no "
                       'image') as err:
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=path)
    assert path in str(err.value) and '4 of the 4 images' in str(err.value)
    assert "'a/x1.jpg' (ValueError: OpenCV" in str(err.value)


def test_failed_and_empty_listed_images_are_known_not_missing(root, logged):
    # only 1 of 4 in `images`: with failed and empty it is 4 known of 4
    path = _write(root, _new_format(
        {'a/x1.jpg': [[0, 0, 2, 2]]}, empty=['b/y1.jpg'],
        failed={'a/x2.jpg': REASON, 'y2.jpg': REASON}))  # y2: by basename
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=path)
    assert ds.num_missing == 0 and ds.num_failed == 2
    assert _paths(ds) == ['a/x1.jpg', 'b/y1.jpg']
    assert [ds.num_proposals(i) for i in range(2)] == [1, 0]
    assert ds.num_empty == 1 and ds.empty_fraction == 0.5  # not above 0.5
    assert len(logged) == 2
    assert '(1 listed as empty)' in logged[1][0]


def test_an_entry_in_images_wins_over_failed(root, logged):
    images = {rel: [[0, 0, 2, 2]] for rel in IMAGES}
    path = _write(root, _new_format(images, failed={'b/y2.jpg': REASON}))
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=path)
    assert len(ds) == 4 and ds.num_failed == 0 and not logged


def test_truly_missing_image_names_it_the_file_and_the_tool(root, logged):
    meta = {'method': 'selective_search', 'filter': 'none',
            'params': {'implementation': 'skimage', 'scale': 300.0,
                       'sigma': 0.9, 'min_size': 100, 'colour_hist': 'soco',
                       'neighbours': 'bbox', 'max_side': 512}}
    images = {rel: [[0, 0, 2, 2]] for rel in IMAGES[:3]}
    path = _write(root, _new_format(images, empty=[], failed={}, meta=meta))
    with pytest.raises(ValueError) as err:
        ProposalDataset(serialize_data=False, dataset=_coco_inner(root),
                        proposal_file=path)
    msg = str(err.value)
    assert msg.startswith(f"Proposal file {path!r} has no entry for 1 of "
                          f"the 4 images of {str(root / 'coco.json')!r}: "
                          "'b/y2.jpg'. ")
    # the real command: COCO json + --img-prefix, and the file's parameters
    command = (f'python tools/data/selective_search.py {root}/coco.json '
               f'{path} --img-prefix {root}/imgs --filter none '
               '--max-side 512')
    assert f'Fill them in by re-running `{command}`: it resumes from its ' \
        f'shard folder {path + ".parts"!r}' in msg


# --------------------------------------------------------------------------
# The no-proposal guard
# --------------------------------------------------------------------------
def test_all_empty_proposals_are_an_error_above_the_threshold(root, logged):
    path = _write(root, _new_format({rel: [] for rel in IMAGES},
                                    empty=list(IMAGES)))
    with pytest.raises(ValueError) as err:
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=path)
    msg = str(err.value)
    assert msg.startswith(
        f'Proposal file {path!r}: 4 of the 4 images (100.0%) have no usable '
        "proposal (4 listed as empty): 'a/x1.jpg', 'a/x2.jpg', "
        "'b/y1.jpg', 'b/y2.jpg'; that is more than max_empty_fraction=0.5 "
        'allows')
    assert "the tool's filter kept no box" in msg and '--filter none' in msg
    assert 'max_empty_fraction=1.0' in msg
    assert not logged  # an error, not a warning
    # 1.0 turns the check off: a warning only
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=path, max_empty_fraction=1.0)
    assert ds.num_empty == 4 and ds.empty_fraction == 1.0
    assert len(logged) == 1 and '(100.0%)' in logged[0][0]
    assert logged[0][1]['level'] == logging.WARNING


@pytest.mark.parametrize('num_empty,threshold,raises', [
    (1, 0.5, False), (2, 0.5, False), (3, 0.5, True), (3, 0.75, False),
    (1, 0.0, True)])
def test_empty_fraction_threshold(root, logged, num_empty, threshold,
                                  raises):
    images = {rel: [] if i < num_empty else [[0, 0, 2, 2]]
              for i, rel in enumerate(IMAGES)}
    path = _write(root, _new_format(images))
    fraction = f'{num_empty} of the 4 images ({num_empty / 4:.1%})'
    kwargs = dict(serialize_data=False, dataset=_inner(root),
                  proposal_file=path, max_empty_fraction=threshold)
    if raises:
        with pytest.raises(ValueError, match=fraction.replace(
                '(', r'\(').replace(')', r'\)')):
            ProposalDataset(**kwargs)
        assert not logged
    else:
        ds = ProposalDataset(**kwargs)
        assert ds.num_empty == num_empty and len(ds) == 4
        assert len(logged) == 1 and fraction in logged[0][0]


def test_no_warning_when_every_image_has_proposals(root, logged):
    images = {rel: [[0, 0, 2, 2]] for rel in IMAGES}
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=_write(root, _new_format(images)),
                         max_empty_fraction=0.0)
    assert ds.num_empty == 0 and not logged


def test_all_boxes_dropped_count_as_empty(root, logged):
    # 10 x 8 images; boxes right of / below the image or of zero size
    outside = [[12, 1, 3, 3], [1, 9, 2, 2], [3, 3, 0, 5]]
    images = {rel: outside for rel in IMAGES}
    path = _write(root, _new_format(images))
    with pytest.raises(ValueError) as err:
        ProposalDataset(serialize_data=False, dataset=_coco_inner(root),
                        proposal_file=path)
    msg = str(err.value)
    assert '4 of the 4 images (100.0%) have no usable proposal' in msg
    assert '(4 with all boxes dropped)' in msg and path in msg
    assert '4 lost all their boxes to the checks' in msg
    assert 'max_empty_fraction=0.5' in msg
    # below the threshold: a warning naming the image
    images = dict(images, **{rel: [[1, 1, 2, 2]] for rel in IMAGES[1:]})
    path = _write(root, _new_format(images), name='p2.json')
    ds = ProposalDataset(serialize_data=False, dataset=_coco_inner(root),
                         proposal_file=path)
    assert ds.num_dropped == 3 and ds.num_empty == 1
    assert ds.num_proposals(0) == 0
    assert logged[-1][0].startswith(
        f"ProposalDataset: in {path!r}, 1 of the 4 images (25.0%) have no "
        "usable proposal (1 with all boxes dropped): 'a/x1.jpg';")


def test_non_finite_boxes_dropped_count_as_empty(root, logged):
    images = {rel: [[0, 0, 2, 2]] for rel in IMAGES}
    images['a/x1.jpg'] = [[float('nan'), 0, 2, 2]]
    path = root / 'props.json'
    path.write_text(json.dumps(_new_format(images)))  # NaN: Python's JSON
    ds = ProposalDataset(serialize_data=False, dataset=_inner(root),
                         proposal_file=str(path))
    assert ds.num_dropped == 1 and ds.num_empty == 1
    assert '(1 with all boxes dropped)' in logged[-1][0]


def test_bad_thresholds(root):
    path = _write(root, _new_format({}))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match='max_empty_fraction must be'):
            ProposalDataset(serialize_data=False, dataset=_inner(root),
                            proposal_file=path, max_empty_fraction=bad)


# --------------------------------------------------------------------------
# Malformed files name the file
# --------------------------------------------------------------------------
_GOOD = {rel: [[0, 0, 2, 2]] for rel in IMAGES}


@pytest.mark.parametrize('text,error,expected', [
    ('not json', json.JSONDecodeError,
     'is not valid JSON: Expecting value: line 1 column 1 (char 0)'),
    ('', json.JSONDecodeError, 'is not valid JSON (the file is empty)'),
    ('{"format": "mmalfm-proposals",\n "version": 1,\n "images": {"a": [[1,',
     json.JSONDecodeError,
     'is not valid JSON (it ends early: a truncated file): Expecting value: '
     'line 3 column 22'),
    ('{"a": [[1, 2, 3, 4]],\n "b": [[1, 2, 3, 4]\n  "c": []}',
     json.JSONDecodeError,
     "Expecting ',' delimiter: line 3 column 3"),
    (json.dumps([1, 2]), ValueError, 'expected a JSON object, got list'),
    (json.dumps(_new_format([1])), ValueError,
     '"images" must map image paths to box lists'),
    (json.dumps(_new_format(_GOOD, empty='a/x1.jpg')), ValueError,
     '"empty" must be a list of image paths'),
    (json.dumps(_new_format(_GOOD, failed=['a/x1.jpg'])), ValueError,
     '"failed" must map image paths to the reason'),
    (json.dumps(_new_format(_GOOD, meta=[1])), ValueError,
     '"meta" must be a JSON object'),
    (json.dumps(_new_format(dict(_GOOD, **{'a/x1.jpg': [[0, 0, 1, 1],
                                                        [1, 2]]}))),
     ValueError, 'expected a list of [x, y, w, h] boxes of 4 numbers for '
     "image 'a/x1.jpg'; box 1 is [1, 2]"),
    (json.dumps(_new_format(dict(_GOOD, **{'a/x2.jpg': [['1', 2, 3, 4]]}),
                            'xyxy')),
     ValueError, 'expected a list of [x1, y1, x2, y2] boxes of 4 numbers '
     "for image 'a/x2.jpg'; box 0 is ['1', 2, 3, 4]"),
    (json.dumps(_new_format(dict(_GOOD, **{'b/y1.jpg': [[None, 2, 3, 4]]}))),
     ValueError, "for image 'b/y1.jpg'; box 0 is [None, 2, 3, 4]"),
    (json.dumps(_new_format(dict(_GOOD, **{'b/y1.jpg': [1, 2, 3, 4]}))),
     ValueError, "for image 'b/y1.jpg'; box 0 is 1"),
    (json.dumps(_new_format(dict(_GOOD, **{'b/y2.jpg': 5}))),
     ValueError, "for image 'b/y2.jpg'; got int 5"),
    (json.dumps({'x1': [[1, 2, 3, 4]], 'x2': [[True] * 4]}), ValueError,
     "for image 'x2'; box 0 is [True, True, True, True]"),
    (json.dumps({'x1': [[1, 2, 3, 4]], 'x2': {'a': 1}}), ValueError,
     "nor a SoCo proposal file ({basename: [[x, y, w, h], ...]}): the value "
     "of 'x2' is a dict"),
])
def test_malformed_files_name_the_file(root, text, error, expected):
    path = root / 'props.json'
    path.write_text(text)
    with pytest.raises(error) as err:
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=str(path))
    assert type(err.value) is error
    msg = str(err.value)
    assert msg.startswith(repr(str(path))), msg
    assert expected in msg, msg


def test_binary_file_names_the_file(root):
    path = root / 'props.json'
    path.write_bytes(b'\xff\xfe\x00\x01')
    with pytest.raises(ValueError, match='is not a JSON text file') as err:
        ProposalDataset(serialize_data=False, dataset=_inner(root),
                        proposal_file=str(path))
    assert str(err.value).startswith(repr(str(path)))


def test_builds_its_images_in_its_own_scope(root):
    """Under another default scope (an mmdet config with
    `type='mmalfm.ProposalDataset'`, or a process that ran one) the wrapped
    `UnlabeledImageDataset` is still found."""
    from mmengine.registry import DefaultScope
    images = {rel: [[0, 0, 2, 2]] for rel in IMAGES}
    path = _write(root, _new_format(images))
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = ProposalDataset(dataset=_inner(root), proposal_file=path)
    assert _paths(ds) == IMAGES
