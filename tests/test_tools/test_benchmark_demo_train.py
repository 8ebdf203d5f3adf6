# Copyright (c) mmalfm contributors. All rights reserved.
"""The demo detector config end to end (tiny data): trains from random init
with tools/train.py, evaluates (COCO AP) during training and with
tools/test.py, and starts from an export exactly. The tools run in forked
children of the test process (conftest.fork_tool), but for the same-seed
runs: ``python tools/train.py`` under the demo's pinned CPU numerics, which
act at an interpreter's start."""
import glob
import json
import os
import os.path as osp

import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from conftest import PYTHON, fork_tool, load_checkpoint, run_tool

DEMO = 'configs/benchmarks/mmdetection/demo/' \
    'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py'
RANDOM_INIT = DEMO.replace('.py', '_random-init.py')


def _options(coco: str) -> list:
    """The tiny data set (12 train / 4 val images, 64-96 px), 1 epoch of 3
    iterations at 96 px."""
    ann = osp.join(coco, 'annotations', 'instances_val2017.json')
    return [
        f'train_dataloader.dataset.data_root={coco}/',
        f'val_dataloader.dataset.data_root={coco}/',
        f'test_dataloader.dataset.data_root={coco}/',
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.2.scale=(128,96)',
        'val_dataloader.dataset.pipeline.1.scale=(128,96)',
        'test_dataloader.dataset.pipeline.1.scale=(128,96)',
        'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1'
    ]


def _scalars(work_dir) -> list:
    files = glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                               'scalars.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_random_init_trains_evaluates_and_tests(tiny_demo_data, tmp_path):
    coco = osp.join(tiny_demo_data, 'coco')
    work_dir = tmp_path / 'random'
    fork_tool('tools/train.py', [
        RANDOM_INIT, '--work-dir',
        str(work_dir), '--cfg-options', *_options(coco),
        'train_cfg.val_interval=1'
    ])
    rows = _scalars(work_dir)
    losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(losses) == 3 and all(v == v for v in losses)  # 12 / 4, no NaN
    val = [r for r in rows if 'coco/bbox_mAP' in r]
    assert len(val) == 1 and 0 <= val[0]['coco/bbox_mAP'] <= 1
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.exists()

    out = tmp_path / 'metrics.json'
    fork_tool('tools/test.py', [
        RANDOM_INIT,
        str(checkpoint), '--work-dir',
        str(tmp_path / 'test'), '--out',
        str(out), '--cfg-options', *_options(coco)
    ])
    metrics = json.loads(out.read_text())
    # the same weights on the same images: the validation numbers again
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'):
        assert metrics[key] == val[0][key]


def test_training_starts_from_the_export(tiny_demo_data, tmp_path):
    cfg = Config.fromfile(DEMO)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    # random weights, the model's own BN statistics (they change in training)
    gen = torch.Generator().manual_seed(0)
    parts = ('backbone.', 'neck.', 'roi_head.bbox_head.shared')
    params = dict(model.named_parameters())
    exported = {
        k: 0.05 * torch.randn(v.shape, generator=gen)
        for k, v in params.items() if k.startswith(parts)
    }
    buffers = {k: v for k, v in model.state_dict().items()
               if k.startswith(parts) and k not in params}
    export = tmp_path / 'export.pth'
    torch.save({'state_dict': {**exported, **buffers}, 'meta': {}},
               str(export))

    coco = osp.join(tiny_demo_data, 'coco')
    work_dir = tmp_path / 'export_run'
    # lr 0: the weights after the run are the weights the run started from
    run = fork_tool('tools/train.py', [
        DEMO, '--work-dir',
        str(work_dir), '--cfg-options', *_options(coco),
        f'model.init_cfg.checkpoint={export}', 'optim_wrapper.optimizer.lr=0',
        'train_cfg.val_interval=2'
    ])
    assert f'PretrainedExport: loaded {len(exported) + len(buffers)} ' \
        'tensors' in run.stdout + run.stderr
    state = load_checkpoint(work_dir / 'epoch_1.pth')['state_dict']
    for key, value in exported.items():
        assert torch.equal(state[key], value), key


def test_run_seeds_collects_the_final_metrics(tmp_path):
    """tools/benchmarks/run_seeds.py --summary-only on three finished runs:
    the last validation entry per seed; mean and sample std by hand."""
    from mmalfm.apis import run_seeds
    final = {0: 50.0, 1: 52.0, 2: 57.0}
    for seed, ap in final.items():
        vis = tmp_path / f'seed{seed}' / '20260101_000000' / 'vis_data'
        vis.mkdir(parents=True)
        rows = [dict(loss=1.0, step=1),
                {'pascal_voc/AP': 1.0, 'pascal_voc/AP50': 2.0, 'step': 1},
                dict(loss=0.5, step=2),
                {'pascal_voc/AP': ap, 'pascal_voc/AP50': ap + 30, 'step': 2}]
        (vis / 'scalars.json').write_text(
            '\n'.join(json.dumps(r) for r in rows) + '\n')
    summary = run_seeds.main([
        RANDOM_INIT, '--seeds', '0', '1', '2', '--work-dir',
        str(tmp_path), '--summary-only'
    ])
    # mean 53; deviations -3, -1, 4 -> std = sqrt((9 + 1 + 16) / 2) = sqrt(13)
    assert summary['pascal_voc/AP']['values'] == [50.0, 52.0, 57.0]
    assert summary['pascal_voc/AP']['mean'] == 53.0
    assert summary['pascal_voc/AP']['std'] == 13**0.5
    assert summary['pascal_voc/AP50']['mean'] == 83.0
    saved = json.loads((tmp_path / 'summary.json').read_text())
    assert saved['summary']['pascal_voc/AP']['n'] == 3
    # the seed goes into the one --cfg-options list, not twice
    cmd = run_seeds.train_command('c.py', 'w', 3, 1,
                                  ['--cfg-options', 'a=1'], False)
    assert cmd[-4:] == ['w', '--cfg-options', 'randomness.seed=3', 'a=1']


def test_same_seed_gives_the_same_weights_and_ap(tiny_demo_data, tmp_path):
    """Two fine-tunes with the same seed under the demo's pinned CPU
    numerics (mmalfm.utils.cpu_numerics): identical weights and AP."""
    from mmalfm.utils.cpu_numerics import pinned_cpu_env
    coco = osp.join(tiny_demo_data, 'coco')
    env = pinned_cpu_env(threads=1, env={
        k: v for k, v in os.environ.items()
        if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')})
    states, aps = [], []
    for name in ('first', 'second'):
        work_dir = tmp_path / name
        run_tool([
            PYTHON, 'tools/train.py', RANDOM_INIT, '--work-dir',
            str(work_dir), '--cfg-options', *_options(coco),
            'train_cfg.val_interval=1'
        ], env=env)
        states.append(load_checkpoint(work_dir / 'epoch_1.pth')['state_dict'])
        aps.append([{k: v for k, v in r.items() if k.startswith('coco/')}
                    for r in _scalars(work_dir) if 'coco/bbox_mAP' in r])
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    assert len(aps[0]) == 1 and aps[0] == aps[1]
