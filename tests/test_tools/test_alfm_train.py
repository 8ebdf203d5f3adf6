# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM end to end (tools/train.py on the tiny demo data, a forked process
per run, conftest.fork_tool): the loss falls without a collapse warning, and
resume is bit-identical (weights, EMA teacher, CDLP centre, LARS state,
schedulers)."""
import glob
import json
import os.path as osp

from conftest import assert_resume_is_bit_identical, train_on_proposals


def _scalars(work_dir) -> list:
    files = glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                               'scalars.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_alfm_loss_falls_without_collapse_warning(tiny_demo_proposals,
                                                  tmp_path):
    iters = 12
    proc = train_on_proposals('alfm_tiny.py', tmp_path, tiny_demo_proposals,
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


def test_alfm_resume_is_bit_identical(tiny_demo_proposals, tmp_path):
    assert_resume_is_bit_identical(
        lambda config, work_dir, *extra, check=True: train_on_proposals(
            config, work_dir, tiny_demo_proposals, *extra, check=check),
        'alfm_tiny.py', tmp_path)
