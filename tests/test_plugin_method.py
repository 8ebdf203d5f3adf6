# Copyright (c) mmalfm contributors. All rights reserved.
"""A fifth method from one plugin file, without touching the centre.

``tests/data/plugins/toy_region_method.py`` registers an algorithm, a head,
a loss and a region sampler; ``toy_region_method_tiny.py`` is its config.
Training, export with ``--check``, the view browser, the benchmark and the
demo runner must all work on it, and no file under ``mmalfm/`` or
``tools/`` may name it (docs/advanced_guides/add_a_method.md).
"""
import io
import json
import os
import os.path as osp
import re
import shutil

import pytest
import torch

from conftest import PLUGINS, REPO, fork_tool

CONFIG = osp.join(PLUGINS, 'toy_region_method_tiny.py')
DETECTOR = osp.join(REPO, 'configs', 'benchmarks', 'mmdetection', 'demo',
                    'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')
#: Every name the plugin defines or registers.
NAMES = ('ToyRegion', 'ToyRegionHead', 'ToyCosineLoss', 'ToyOverlapSampler',
         'toyregion', 'toy_region')


def _data(coco: str):
    return [f'train_dataloader.dataset.data_root={coco}/']


def test_nothing_under_mmalfm_or_tools_names_the_plugin():
    pattern = re.compile('|'.join(NAMES))
    hits = []
    for top in ('mmalfm', 'tools'):
        for root, _, files in os.walk(osp.join(REPO, top)):
            for name in files:
                if not name.endswith(('.py', '.md', '.yml', '.txt')):
                    continue
                path = osp.join(root, name)
                with open(path, encoding='utf-8') as f:
                    for lineno, line in enumerate(f, 1):
                        if pattern.search(line):
                            hits.append(f'{path}:{lineno}: {line.strip()}')
    assert not hits, '\n'.join(hits)


@pytest.fixture(scope='module')
def trained(tiny_demo_data, tmp_path_factory):
    """The toy method trained 4 iterations by ``tools/train.py``."""
    coco = osp.join(tiny_demo_data, 'coco')
    work = tmp_path_factory.mktemp('toy_train')
    fork_tool('tools/train.py',
              [CONFIG, '--work-dir', str(work), '--cfg-options',
               *_data(coco)])
    return coco, work


def test_train_logs_the_plugin_loss_and_health(trained):
    _, work = trained
    assert (work / 'iter_4.pth').is_file()
    logs = list(work.glob('*/vis_data/scalars.json'))
    rows = [json.loads(line) for line in logs[0].read_text().splitlines()]
    steps = [r for r in rows if 'loss_toy' in r]
    assert [r['iter'] for r in steps] == [1, 2, 3, 4]
    # the health hook reads what the plugin head's loss returned:
    # 4 grid cells matched per image, in every step
    assert all(r['health/num_pos'] > 0 for r in steps), steps


def test_export_with_check_keeps_the_backbone_only(trained, tmp_path):
    _, work = trained
    out = tmp_path / 'export.pth'
    proc = fork_tool('tools/model_converters/export_to_mmdet.py',
                     [str(work / 'iter_4.pth'), str(out), '--check',
                      DETECTOR])
    assert "method: toyregion (from config model type 'ToyRegion')" in \
        proc.stdout
    assert re.search(r'^ +heads +4 tensors +\(toy region head\)$',
                     proc.stdout, re.M), proc.stdout
    assert 'ok: every requested key present with the right shape' in \
        proc.stdout
    state = torch.load(out, map_location='cpu')['state_dict']
    trained_state = torch.load(
        work / 'iter_4.pth', map_location='cpu',
        weights_only=False)['state_dict']
    assert state and all(k.startswith('backbone.') for k in state)
    for key, value in state.items():
        assert torch.equal(value, trained_state[key]), key


def test_view_browser_draws_the_plugin_sampler(trained, tmp_path):
    coco, _ = trained
    proc = fork_tool('tools/analysis/browse_views.py',
                     [CONFIG, '--data-root', coco, '--num', '1', '--out',
                      str(tmp_path)])
    pngs = list((tmp_path / 'toy_region_method_tiny').glob('*.png'))
    assert len(pngs) == 1
    # the 2 x 2 grid of the overlap: ids 0..3 matched between the views
    assert 'view 0 <-> view 1: 4 matched ids [0, 1, 2, 3]' in proc.stdout


def test_benchmark_times_the_plugin_step(trained, tmp_path):
    coco, _ = trained
    out = tmp_path / 'bench.json'
    fork_tool('tools/analysis/benchmark.py',
              [CONFIG, '--iters', '1', '--warmup', '0', '--json', str(out),
               '--cfg-options', *_data(coco)])
    result = json.loads(out.read_text())
    assert result['step_s'] > 0


def test_export_accepts_the_plugin_name_after_its_config_registered_it(
        trained, tmp_path):
    _, work = trained
    proc = fork_tool('tools/model_converters/export_to_mmdet.py',
                     [str(work / 'iter_4.pth'), str(tmp_path / 'e.pth'),
                      '--method', 'toyregion'])
    assert 'method: toyregion' in proc.stdout


def test_demo_runner_pretrains_and_exports_the_plugin(tiny_demo_data,
                                                      tmp_path, monkeypatch):
    from mmalfm.apis import demo
    from mmalfm.apis.demo.paths import export_path
    from mmalfm.apis.demo.records import Progress, run_stage
    monkeypatch.syspath_prepend(PLUGINS)  # the config's custom_imports
    data = tmp_path / 'data'
    shutil.copytree(tiny_demo_data, data)
    opts = demo.make_options(demo.parse_args([
        '--methods', CONFIG, '--tiny', '--in-process', '--quiet', '--data',
        str(data), '--work-dir', str(tmp_path / 'work')
    ]))
    assert opts.methods == ['toyregion', 'byol']
    assert not demo.needs_proposals(opts, 'toyregion')
    assert demo.export_flags('toyregion') == ()
    plan = {stage.name: stage for stage in demo.build_plan(opts)}
    assert 'proposals' not in plan  # neither method trains on proposals
    wanted = ('data', 'pretrain_toyregion', 'export_toyregion')
    progress = Progress(len(wanted), stream=io.StringIO())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        records = [run_stage(opts, plan[name], i + 1, progress)
                   for i, name in enumerate(wanted)]
    finally:
        torch.set_num_threads(threads)
    assert all(r['done'] for r in records)
    export = torch.load(export_path(opts, 'toyregion'),
                        map_location='cpu')['state_dict']
    assert export and all(k.startswith('backbone.') for k in export)
