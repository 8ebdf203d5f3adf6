# Copyright (c) mmalfm contributors. All rights reserved.
"""The binary proposal store: round trips with JSON, and ProposalDataset
gives the same samples, counts, logs and errors from both."""
import json
import multiprocessing
import os
import pickle

import numpy as np
import pytest

from mmalfm.datasets import ProposalDataset, proposal_dataset
from mmalfm.datasets.proposals import (ProposalStore, ProposalStoreWriter,
                                       convert_proposals, read_proposals,
                                       save_proposals)

IMAGES = ['a/x1.jpg', 'a/x2.jpg', 'b/y1.jpg', 'b/y2.jpg']
REASON = 'ValueError: OpenCV cannot decode it'


@pytest.fixture
def root(tmp_path):
    for rel in IMAGES:
        path = tmp_path / 'imgs' / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'')
    return tmp_path


def _folder(root):
    return dict(type='UnlabeledImageDataset', data_root=str(root),
                data_prefix=dict(img_path='imgs'))


def _coco(root, sizes=((10, 8), ) * 4):
    """A COCO list of IMAGES; ``None`` in ``sizes`` leaves a key out."""
    images = []
    for i, (rel, (w, h)) in enumerate(zip(IMAGES, sizes)):
        img = dict(id=i + 1, file_name=rel)
        if w is not None:
            img['width'] = w
        if h is not None:
            img['height'] = h
        images.append(img)
    (root / 'coco.json').write_text(json.dumps(dict(images=images)))
    return dict(type='UnlabeledImageDataset', data_root=str(root),
                ann_file='coco.json', data_prefix=dict(img_path='imgs'))


def _ours(images, box_format='xywh', **extra):
    return dict({'format': 'mmalfm-proposals', 'version': 1,
                 'box_format': box_format, 'images': images,
                 'meta': {'tool': 'test'}}, **extra)


BOXES = [[0, 0, 2, 2]]
OUTSIDE = [[12, 1, 3, 3], [1, 9, 2, 2], [3, 3, 0, 5]]
META = {'method': 'selective_search', 'filter': 'none',
        'params': {'implementation': 'skimage', 'max_side': 512}}

#: name -> (inner dataset, file content, ProposalDataset kwargs)
SCENARIOS = {
    'xywh_relative_paths': ('folder', _ours({
        'a/x1.jpg': [[1, 2, 3, 4]], 'a/x2.jpg': [],
        './b/y1.jpg': [[0, 0, 5, 5], [1, 1, 2, 2]],
        'b/y2.jpg': [[2.5, 2, 1, 1]]}), {}),
    'xyxy': ('folder', _ours({r: [[1, 2, 3, 4]] for r in IMAGES}, 'xyxy'),
             {}),
    'legacy_stems': ('folder', {'x1': [[1, 2, 3, 4]], 'x2': [[0, 0, 1, 1]],
                                'y1': [], 'y2.jpg': [[4, 4, 2, 2]]}, {}),
    'basename_fallback': ('folder', _ours(
        {f'train2017/{r.split("/")[1]}': BOXES for r in IMAGES}), {}),
    'basename_clash': ('folder', _ours(dict(
        {r: BOXES for r in IMAGES[1:]},
        **{'p/x1.jpg': [[0, 0, 3, 3]], 'q/x1.jpg': [[0, 0, 4, 4]]})),
        dict(missing='whole_image')),
    'another_image_set': ('folder', _ours(
        {'other/z1.jpg': BOXES, 'a/x1.jpg': BOXES}), {}),
    'missing_whole_image': ('folder', _ours(
        {r: BOXES for r in IMAGES[:3]}), dict(missing='whole_image')),
    'missing_error': ('folder', _ours(
        {'a/x1.jpg': BOXES, 'b/y1.jpg': []}), {}),
    'missing_coco_meta': ('coco', _ours(
        {r: BOXES for r in IMAGES[:3]}, empty=[], failed={}, meta=META), {}),
    'clip_and_drop': ('coco', _ours({
        'a/x1.jpg': [[-2, 1, 4, 3], [6, 6, 8, 8], [3, 3, 0, 5],
                     [3, 3, -1, 2]],
        'a/x2.jpg': [[12, 1, 3, 3], [1, 1, 2, 2]],
        'b/y1.jpg': [[-1, -1, 3, 3]], 'b/y2.jpg': BOXES}), {}),
    'clip_partial_sizes': ('coco_partial', _ours(
        {r: [[-1, -1, 30, 30], [5, 5, 3, 3]] for r in IMAGES}), {}),
    'folder_clip_at_zero': ('folder', _ours(
        {r: [[-1, -1, 30, 30], [5, 5, 0, 3], [-9, 0, 3, 3]]
         for r in IMAGES}), {}),
    'failed_skip': ('folder', _ours({r: BOXES for r in IMAGES[:3]},
                                    failed={'b/y2.jpg': REASON}), {}),
    'failed_whole_image': ('folder', _ours(
        {r: BOXES for r in IMAGES[:3]}, failed={'b/y2.jpg': REASON}),
        dict(failed='whole_image')),
    'failed_error': ('folder', _ours(
        {r: BOXES for r in IMAGES[:3]}, failed={'b/y2.jpg': REASON}),
        dict(failed='error')),
    'all_failed': ('folder', _ours({}, failed={r: REASON for r in IMAGES}),
                   {}),
    'failed_and_empty_known': ('folder', _ours(
        {'a/x1.jpg': BOXES}, empty=['b/y1.jpg'],
        failed={'a/x2.jpg': REASON, 'y2.jpg': REASON}), {}),
    'images_win_over_failed': ('folder', _ours(
        {r: BOXES for r in IMAGES}, failed={'b/y2.jpg': REASON}), {}),
    'all_empty': ('folder', _ours({r: [] for r in IMAGES},
                                  empty=list(IMAGES)), {}),
    'all_empty_accepted': ('folder', _ours({r: [] for r in IMAGES},
                                           empty=list(IMAGES)),
                           dict(max_empty_fraction=1.0)),
    'three_empty': ('folder', _ours(
        {r: [] if i < 3 else BOXES for i, r in enumerate(IMAGES)}), {}),
    'all_dropped': ('coco', _ours({r: OUTSIDE for r in IMAGES}), {}),
    'one_dropped': ('coco', _ours(dict(
        {r: [[1, 1, 2, 2]] for r in IMAGES[1:]}, **{'a/x1.jpg': OUTSIDE})),
        {}),
    'nan_box': ('folder', _ours(dict(
        {r: BOXES for r in IMAGES[1:]},
        **{'a/x1.jpg': [[float('nan'), 0, 2, 2]]})), {}),
}


#: The scenarios that end in a ValueError.
ERRORS = ('another_image_set', 'missing_error', 'missing_coco_meta',
          'failed_error', 'all_failed', 'all_empty', 'three_empty',
          'all_dropped')


def _inner(root, kind):
    if kind == 'folder':
        return _folder(root)
    if kind == 'coco':
        return _coco(root)
    return _coco(root, sizes=[(10, 8), (10, None), (None, 8), (None, None)])


def _build(root, kind, path, kwargs, logged):
    """``('ok', summary)`` or ``('error', type, message)``, with the file
    name replaced by ``FILE`` (it differs between JSON and store)."""
    del logged[:]

    def anonymise(text):
        return text.replace(repr(path), "'FILE'").replace(path, 'FILE')

    try:
        ds = ProposalDataset(dataset=_inner(root, kind), proposal_file=path,
                             **kwargs)
    except ValueError as err:
        return 'error', type(err), anonymise(str(err))
    items = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        props = info.pop('proposals')
        assert props.dtype == np.float32 and props.flags.c_contiguous
        items.append((info, props.tobytes(), props.shape,
                      ds.num_proposals(i)))
    counts = {k: getattr(ds, k) for k in (
        'num_missing', 'num_failed', 'num_empty', 'empty_fraction',
        'num_clipped', 'num_dropped')}
    return 'ok', items, counts, [anonymise(m) for m in logged]


@pytest.fixture
def logged(monkeypatch):
    messages = []
    monkeypatch.setattr(proposal_dataset, 'print_log',
                        lambda msg, **kw: messages.append(msg))
    return messages


@pytest.mark.parametrize('name', sorted(SCENARIOS))
def test_dataset_is_the_same_from_json_and_store(root, logged, name):
    kind, content, kwargs = SCENARIOS[name]
    json_path = str(root / 'props.json')
    (root / 'props.json').write_text(json.dumps(content))
    store_path = str(root / 'props')
    convert_proposals(json_path, store_path)
    from_json = _build(root, kind, json_path, kwargs, logged)
    from_store = _build(root, kind, store_path, kwargs, logged)
    assert from_store == from_json
    # the scenarios cover what they are named for
    if name in ERRORS:
        assert from_json[0] == 'error', from_json
    else:
        assert from_json[0] == 'ok', from_json
        assert len(from_json[1]) >= 2


def test_store_dataset_details(root, logged):
    """The store path keeps no boxes in the dataset, reads an item when it
    is fetched, survives pickling (spawned workers) and forking."""
    json_path = str(root / 'p.json')
    save_proposals(json_path, {r: np.array([[i, 0, 2, 3], [0, i, 4, 1]])
                               for i, r in enumerate(IMAGES)})
    convert_proposals(json_path, str(root / 'p'))
    ds = ProposalDataset(dataset=_folder(root), proposal_file=str(root / 'p'))
    assert ds.boxes.shape == (0, 4) and ds.offsets.tolist() == [0]
    assert ds._store._maps == {}  # unmapped after start-up
    expected = [np.array([[i, 0, i + 2, 3], [0, i, 4, i + 1]], np.float32)
                for i in range(4)]
    again = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds._store)) < 2000  # the path, not the arrays
    for i in range(4):
        np.testing.assert_array_equal(again[i]['proposals'], expected[i])
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(2) as pool:
        got = pool.map(_proposals_of, [(ds, i) for i in range(4)] * 2)
    for i, arr in enumerate(got):
        np.testing.assert_array_equal(arr, expected[i % 4])


def _proposals_of(args):
    ds, i = args
    return ds.get_data_info(i)['proposals']


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------
def test_json_store_json_is_byte_identical(tmp_path):
    cases = {
        'ints.json': dict(images={'a/1.jpg': np.array([[1, 2, 30, 40]]),
                                  'b/2.png': [], 'c/é.jpg': np.array(
                                      [[0, 0, 5, 5], [-3, 2, 16777216, 9]])},
                          failed={'d.jpg': 'Corrupt "x"'},
                          meta=dict(method='selective_search',
                                    filter_stages={'ratio_size': 2})),
        'floats.json': dict(images={'a': np.array(
            [[0.1, 2.5, 3.75, 1e-3]], np.float32), 'b': np.zeros((0, 4))},
            box_format='xyxy', meta=dict(method='detector', score_thr=0.05)),
        'nothing.json': dict(images={}),
    }
    for name, kwargs in cases.items():
        src = str(tmp_path / name)
        save_proposals(src, **kwargs)
        store = str(tmp_path / (name + '.store'))
        back = str(tmp_path / ('back_' + name))
        convert_proposals(src, store)
        convert_proposals(store, back)
        with open(src, 'rb') as a, open(back, 'rb') as b:
            assert a.read() == b.read(), name
        # and the store holds the same record
        assert _same_record(read_proposals(store), read_proposals(src))


def _same_record(a, b):
    assert list(a['images']) == list(b['images'])
    for k in a['images']:
        np.testing.assert_array_equal(
            a['images'][k].astype(np.float32), b['images'][k].astype(
                np.float32))
    return all(a[k] == b[k] for k in ('box_format', 'empty', 'failed',
                                      'meta', 'integer'))


def test_non_canonical_json_comes_back_canonical(tmp_path):
    """Spaces, a float written as 3.0 among integers, a legacy file: the
    same content in canonical form (what the docs promise)."""
    src = tmp_path / 'loose.json'
    src.write_text(json.dumps(_ours({'a': [[1, 2, 3.0, 4]], 'b': [[5, 6, 7,
                                                                8]]}),
                              indent=2))
    convert_proposals(str(src), str(tmp_path / 's'))
    convert_proposals(str(tmp_path / 's'), str(tmp_path / 'back.json'))
    back = json.loads((tmp_path / 'back.json').read_text())
    assert back['images'] == {'a': [[1.0, 2.0, 3.0, 4.0]],
                              'b': [[5.0, 6.0, 7.0, 8.0]]}
    assert (tmp_path / 'back.json').read_text().startswith(
        '{"format":"mmalfm-proposals","version":1,"box_format":"xywh",'
        '"images":{"a":[[1.0,2.0,3.0,4.0]]')
    legacy = tmp_path / 'legacy.json'
    legacy.write_text(json.dumps({'n1_1': [[1, 2, 3, 4]], 'n1_2': []}))
    convert_proposals(str(legacy), str(tmp_path / 'l'))
    convert_proposals(str(tmp_path / 'l'), str(tmp_path / 'l.json'))
    assert json.loads((tmp_path / 'l.json').read_text()) == dict(
        format='mmalfm-proposals', version=1, box_format='xywh',
        images={'n1_1': [[1, 2, 3, 4]], 'n1_2': []}, empty=['n1_2'],
        failed={}, meta=dict(method='selective_search',
                             source='soco-legacy'))


def test_store_lookup_and_layout(tmp_path):
    path = str(tmp_path / 's')
    with ProposalStoreWriter(path) as writer:
        writer.add('./a/x1.jpg', np.array([[1, 2, 3, 4], [-1, 0, 2, 2]]))
        writer.add('b/x1.jpg', np.array([[0, 0, 1, 1]]))  # basename clash
        writer.add('c/n01_7.JPEG', [])
        writer.close(failed={'d/bad.jpg': 'why'})
    store = ProposalStore(path)
    store.validate()
    assert (store.num_images, store.num_boxes, store.integer) == (3, 3, True)
    assert store.empty == ['c/n01_7.JPEG'] and store.failed == {
        'd/bad.jpg': 'why'}
    pos = store.lookup(['a/x1.jpg', 'x1.jpg', 'n01_7', 'q/n01_7.png',
                        'bad.jpg', 'zzz', 'a/x1.jpg' * 20])
    keys = [store.index_key(p) if p >= 0 else None for p in pos]
    assert keys == ['a/x1.jpg', None, 'c/n01_7.JPEG', 'c/n01_7.JPEG',
                    'd/bad.jpg', None, None]
    rows = store.array('index_rows')
    assert [int(rows[p]) if p >= 0 else None for p in pos] == [
        0, None, 2, 2, -1, None, None]
    np.testing.assert_array_equal(store.image_boxes(0),
                                  [[1, 2, 3, 4], [-1, 0, 2, 2]])
    assert store.image_boxes(2).shape == (0, 4)
    assert store.array('stats_kept').tolist() == [2, 1, 0]
    assert store.array('stats_clipped').tolist() == [1, 0, 0]
    store.close()


def test_broken_stores_name_the_store_and_the_fix(root, tmp_path):
    good = str(tmp_path / 'good.json')
    save_proposals(good, {r: np.array([[0, 0, 2, 2]]) for r in IMAGES})

    def broken(name, damage):
        path = tmp_path / name
        convert_proposals(good, str(path))
        damage(path)
        return str(path)

    def truncate(p):
        with open(p / 'boxes.npy', 'r+b') as f:
            f.truncate(os.path.getsize(p / 'boxes.npy') - 16)

    def version(p):
        head = json.loads((p / 'meta.json').read_text())
        (p / 'meta.json').write_text(json.dumps(dict(head, version=9)))

    cases = [
        (broken('no_meta', lambda p: (p / 'meta.json').unlink()),
         'meta.json is missing'),
        (broken('version', version), 'unsupported mmalfm-proposal-store '
         'version 9'),
        (broken('truncated', truncate), 'cannot read boxes.npy'),
        (broken('offsets', lambda p: np.save(p / 'offsets.npy',
                                             np.array([0, 2, 1, 3, 4]))),
         'offsets.npy is not a non-decreasing list'),
        (broken('no_keys', lambda p: (p / 'keys.npy').unlink()),
         'cannot read keys.npy'),
    ]
    for path, expected in cases:
        with pytest.raises(ValueError) as err:
            ProposalDataset(dataset=_folder(root), proposal_file=path)
        msg = str(err.value)
        assert msg.startswith(repr(path)) and expected in msg, msg
        assert 'tools/data/convert_proposals.py' in msg, msg


def test_streamed_json_is_json_dump_of_the_whole_object(tmp_path):
    """The writer streams images, yet writes exactly what ``json.dump`` of
    the whole object with compact separators writes."""
    images = {'a/é.jpg': [[1, 2, 3, 4]], 'b': [],
              'c': [[1.5, 2.0, float('nan'), 4e-7]]}
    obj = {'format': 'mmalfm-proposals', 'version': 1, 'box_format': 'xyxy',
           'images': images, 'empty': ['b'], 'failed': {'x': 'bad "one"'},
           'meta': {'m': [1, {'k': 0.1}], 'ü': None}}
    path = tmp_path / 'p.json'
    save_proposals(str(path), {k: np.asarray(v) for k, v in images.items()},
                   failed=obj['failed'], meta=obj['meta'], box_format='xyxy')
    assert path.read_text() == json.dumps(obj, separators=(',', ':'))
