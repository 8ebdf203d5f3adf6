# Copyright (c) mmalfm contributors. All rights reserved.
"""tools/analysis/benchmark.py runs and reports every field (no timing
assertions: the numbers belong in docs/benchmarks.md)."""
import json
import os.path as osp

import pytest

from mmalfm.apis import benchmark

TINY = 'tests/data/configs/soco_tiny.py'


@pytest.fixture(scope='module')
def bench():
    return benchmark


@pytest.fixture(scope='module')
def tiny_proposals(tiny_demo_data, tmp_path_factory):
    """The tiny demo data with a few hand-made proposals per image (the
    benchmark needs valid proposals, not selective search's)."""
    from mmalfm.datasets.proposals import save_proposals
    coco = osp.join(tiny_demo_data, 'coco')
    with open(osp.join(coco, 'annotations', 'instances_train2017.json')) as f:
        images = json.load(f)['images']
    boxes = {}
    for img in images:
        w, h = img['width'], img['height']
        boxes[img['file_name']] = [[0, 0, w // 2, h // 2],
                                   [w // 4, h // 4, w // 2, h // 2],
                                   [w // 2, h // 3, w // 2 - 1, h // 2],
                                   [0, 0, w - 1, h - 1]]
    out = str(tmp_path_factory.mktemp('bench') / 'proposals.json')
    save_proposals(out, boxes)
    return coco, out


def _data_options(coco: str, proposals: str) -> list:
    return [
        '--cfg-options', f'train_dataloader.dataset.dataset.data_root={coco}/',
        'train_dataloader.dataset.data_root=',
        f'train_dataloader.dataset.proposal_file={proposals}'
    ]


def test_train_mode_reports_every_field(bench, tiny_proposals, tmp_path):
    coco, proposals = tiny_proposals
    out = tmp_path / 'train.json'
    res = bench.main([
        TINY, '--iters', '2', '--warmup', '1', '--batch', '2', '--json',
        str(out)
    ] + _data_options(coco, proposals))
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    for key in ('model', 'split', 'device', 'batch', 'view_shapes',
                'step_s', 'images_per_s', 'sections_s', 'sections_frac',
                'sampling', 'geometry_sampling_frac', 'peak_memory',
                'floor_s', 'floor_images_per_s', 'ratio_to_floor', 'runs',
                'online_views', 'target_views'):
        assert key in res, key
    assert res['model'] == 'SoCo' and res['split'] == 'region'
    assert res['batch'] == 2 and res['device'] == 'cpu'
    # the tiny config's views: 32 / 32 / 16 px, all three online and target
    assert res['view_shapes'] == [[3, 32, 32], [3, 32, 32], [3, 16, 16]]
    assert (res['online_views'], res['target_views']) == (3, 3)
    assert set(res['sections_s']) == set(bench.SECTIONS)
    # every part of a SoCo step was seen by its wrapper
    for key in ('data', 'geometry', 'online_forward', 'target_forward',
                'region_head', 'loss', 'backward', 'optimizer', 'ema'):
        assert res['sections_s'][key] > 0, key
    assert res['sampling']['images'] >= 2
    assert res['sampling']['sampling_s_per_image'] > 0
    assert res['peak_memory']['kind'] == 'rss_peak'
    assert res['peak_memory']['mb'] > 0
    assert res['floor_s'] > 0 and len(res['runs']) == 1


def test_wrappers_are_removed(bench):
    """The instrumented methods are restored after a run."""
    from mmalfm.structures import ViewGeometry

    class Model:
        target_net = None

        def encode_views(self, views, indices, target=False):
            return target

        def region_losses(self):
            return 1

    timer, patcher = bench.SectionTimer(False), bench.Patcher()
    model = Model()
    collate = ViewGeometry.collate
    assert bench.instrument_model(model, timer, patcher) == 'region'
    assert model.encode_views([], [], target=True) is True
    assert model.encode_views([], [], True) is True
    assert model.encode_views([], []) is False
    assert timer.totals['target_forward'] > 0
    assert timer.totals['online_forward'] > 0
    patcher.restore()
    assert 'encode_views' not in vars(model)
    assert ViewGeometry.collate == collate


def test_nested_sections_are_exclusive(bench):
    timer = bench.SectionTimer(False)
    with timer.section('outer'):
        with timer.section('inner'):
            sum(range(10000))
    total = timer.totals['outer'] + timer.totals['inner']
    assert timer.totals['inner'] > 0 and total > timer.totals['inner']


def test_data_and_selective_search_modes(bench, tiny_proposals, tmp_path):
    coco, proposals = tiny_proposals
    res = bench.main([
        TINY, '--mode', 'data', '--iters', '1', '--warmup', '0', '--batch',
        '2', '--json', str(tmp_path / 'data.json')
    ] + _data_options(coco, proposals) + ['train_dataloader.num_workers=1'])
    assert res['configured_workers'] == 1 and res['batch'] == 2
    assert res['workers0']['num_workers'] == 0
    assert res['configured']['num_workers'] == 1
    for key in ('workers0', 'configured'):
        assert res[key]['images_per_s'] > 0
        assert res[key]['images_per_s_per_worker'] > 0

    res = bench.main([
        '--mode', 'selective-search', '--images',
        osp.join(coco, 'train2017'), '--iters', '2', '--warmup', '0',
        '--json', str(tmp_path / 'ss.json')
    ])
    assert res['images'] == 2 and res['outputs_identical'] is True
    for key in ('fast_images_per_s', 'reference_images_per_s', 'speedup',
                'felzenszwalb_s_per_image', 'felzenszwalb_frac_of_fast',
                'speedup_excluding_felzenszwalb', 'speedup_ceiling'):
        assert res[key] > 0, key
    assert json.loads((tmp_path / 'ss.json').read_text())['images'] == 2


def test_bad_arguments(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(['--mode', 'train'])  # no config
    with pytest.raises(FileNotFoundError, match='--images'):
        bench.main(['--mode', 'selective-search', '--images',
                    '/nonexistent/*.jpg'])
