# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo resume exactness (subprocesses): 4 iterations in one go == 2,
killed, ``--resume``, to 4 -- bit-identical weights, optimizer and LR
schedulers. The data pipeline (crops, region sampler, jitter, photometrics,
box cutout) draws from the per-worker seeded RNG, so this also checks that
the resumed dataloader replays the same samples."""
import os.path as osp

import pytest
import torch
from conftest import PYTHON, TEST_DATA, run_tool
from test_train import _assert_state_equal, _load

CONFIGS = osp.join(TEST_DATA, 'configs')


@pytest.fixture(scope='module')
def soco_data(tiny_demo_data, tmp_path_factory):
    """The tiny demo set and its selective-search proposal file."""
    coco = osp.join(tiny_demo_data, 'coco')
    proposals = tmp_path_factory.mktemp('soco') / 'ss_train2017.json'
    run_tool([
        PYTHON, 'tools/data/selective_search.py',
        osp.join(coco, 'annotations', 'instances_train2017.json'),
        str(proposals), '--img-prefix',
        osp.join(coco, 'train2017'), '--nproc', '1'
    ])
    return coco, str(proposals)


def _train(config, work_dir, data, *extra, check=True):
    coco, proposals = data
    return run_tool([
        PYTHON, 'tools/train.py',
        osp.join(CONFIGS, config), '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.dataset.data_root={coco}/',
        'train_dataloader.dataset.data_root=',
        f'train_dataloader.dataset.proposal_file={proposals}', *extra
    ], check=check)


def test_soco_resume_is_bit_identical(soco_data, tmp_path):
    whole, split = tmp_path / 'whole', tmp_path / 'split'
    _train('soco_tiny.py', whole, soco_data)

    killed = _train('soco_tiny_interrupted.py', split, soco_data, check=False)
    assert killed.returncode == 3, killed.stderr[-3000:]
    assert (split / 'iter_2.pth').exists()
    assert not (split / 'iter_4.pth').exists()

    resumed = _train('soco_tiny.py', split, soco_data, '--resume')
    assert 'Advance dataloader 2 steps' in resumed.stdout + resumed.stderr

    ckpt_whole = _load(whole / 'iter_4.pth')
    ckpt_split = _load(split / 'iter_4.pth')
    assert ckpt_split['meta']['iter'] == ckpt_whole['meta']['iter'] == 4
    # online and EMA target weights (backbone, FPN, box head, projector,
    # predictor), BN statistics, LARS momentum buffers, LR schedulers
    assert any(k.startswith('target_net.') for k in ckpt_whole['state_dict'])
    _assert_state_equal(ckpt_whole['state_dict'], ckpt_split['state_dict'],
                        'state_dict')
    _assert_state_equal(ckpt_whole['optimizer'], ckpt_split['optimizer'],
                        'optimizer')
    _assert_state_equal(ckpt_whole['param_schedulers'],
                        ckpt_split['param_schedulers'], 'param_schedulers')
    # the runs really trained: weights moved away from the resumed start
    start = _load(split / 'iter_2.pth')['state_dict']
    key = 'backbone.conv1.weight'
    assert not torch.equal(start[key], ckpt_whole['state_dict'][key])
