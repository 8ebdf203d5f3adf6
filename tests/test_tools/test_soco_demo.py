# Copyright (c) mmalfm contributors. All rights reserved.
"""The SoCo demo config end to end: proposals by
``python tools/data/selective_search.py`` (the ``tiny_demo_proposals``
fixture), pretraining by tools/train.py (a forked child of the test process,
conftest.fork_tool); the loss falls."""
import glob
import json
import os.path as osp

from conftest import fork_tool

DEMO = 'configs/soco/soco_resnet18-fpn_1xb8-coslr-10e_demo.py'


def _losses(work_dir) -> list:
    """Per-iteration total losses from the run's scalars.json."""
    files = glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                               'scalars.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r['loss'] for r in rows if 'loss' in r]


def test_soco_demo_trains_and_the_loss_falls(tiny_demo_proposals, tmp_path):
    coco, proposals = tiny_demo_proposals  # made by selective_search.py

    work_dir = tmp_path / 'work'
    # 12 images / 4 per batch x 10 epochs = 30 iterations
    fork_tool('tools/train.py', [
        DEMO, '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.dataset.data_root={coco}/',
        'train_dataloader.dataset.data_root=',
        f'train_dataloader.dataset.proposal_file={proposals}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=10'
    ], timeout=600)
    losses = _losses(work_dir)
    assert len(losses) == 30
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.5, losses
    # 4 directed pairs of CorrespondenceBYOLLoss: each in [-2, 2]
    assert all(-8 - 1e-3 <= v <= 8 for v in losses)
    assert (work_dir / 'epoch_10.pth').exists()
