# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM end to end (subprocesses, tools/train.py on the tiny demo data):
the loss falls without a collapse warning, and resume is bit-identical
(weights, EMA teacher, CDLP centre, LARS state, schedulers)."""
import glob
import json
import os.path as osp

import pytest
from conftest import (PYTHON, TEST_DATA, assert_resume_is_bit_identical,
                      run_tool)

CONFIGS = osp.join(TEST_DATA, 'configs')


@pytest.fixture(scope='module')
def alfm_data(tiny_demo_data, tmp_path_factory):
    """The tiny demo set and its selective-search proposal file."""
    coco = osp.join(tiny_demo_data, 'coco')
    proposals = tmp_path_factory.mktemp('alfm') / 'ss_train2017.json'
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


def _scalars(work_dir) -> list:
    files = glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                               'scalars.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_alfm_loss_falls_without_collapse_warning(alfm_data, tmp_path):
    iters = 12
    proc = _train('alfm_tiny.py', tmp_path, alfm_data,
                  f'train_cfg.max_iters={iters}',
                  f'param_scheduler.1.end={iters}',
                  f'param_scheduler.1.T_max={iters - 2}',
                  'default_hooks.checkpoint.interval=100')
    rows = [r for r in _scalars(tmp_path) if 'loss' in r]
    assert len(rows) == iters
    for key in ('loss_gmsr_align', 'loss_gmsr_entropy', 'loss_cdlp_local',
                'loss_cdlp_cross', 'alfm_random_boxes', 'health/gmsr/std',
                'health/cdlp/std'):
        assert key in rows[-1], key
    losses = [r['loss'] for r in rows]
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first, losses
    log = proc.stdout + proc.stderr
    assert 'possible collapse' not in log


def test_alfm_resume_is_bit_identical(alfm_data, tmp_path):
    assert_resume_is_bit_identical(
        lambda config, work_dir, *extra, check=True: _train(
            config, work_dir, alfm_data, *extra, check=check),
        'alfm_tiny.py', tmp_path)
