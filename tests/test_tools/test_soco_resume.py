# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo resume exactness (subprocesses): 4 iterations in one go == 2,
killed, ``--resume``, to 4 -- bit-identical weights, optimizer and LR
schedulers. The data pipeline (crops, region sampler, jitter, photometrics,
box cutout) draws from the per-worker seeded RNG, so this also checks that
the resumed dataloader replays the same samples."""
import os.path as osp

import pytest
from conftest import (PYTHON, TEST_DATA, assert_resume_is_bit_identical,
                      run_tool)

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
    assert_resume_is_bit_identical(
        lambda config, work_dir, *extra, check=True: _train(
            config, work_dir, soco_data, *extra, check=check),
        'soco_tiny.py', tmp_path)
