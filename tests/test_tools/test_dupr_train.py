# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR end to end with tools/train.py on the tiny demo data (a forked
process per run, conftest.fork_tool): finite losses, queues in the
checkpoint, and bit-identical resume (4 iterations in one go == 2, killed,
``--resume``, to 4: weights, EMA target, patch/global queues and pointers,
optimizer and LR scheduler)."""
import json
import math

from conftest import (assert_resume_is_bit_identical, load_checkpoint,
                      train_on_coco)


def _train(data_root, config, work_dir, *extra, check=True):
    # a forked child (conftest.fork_tool)
    return train_on_coco(config, work_dir, data_root, *extra, check=check)


def test_dupr_trains_and_resumes_bit_identically(tiny_demo_data, tmp_path):
    assert_resume_is_bit_identical(
        lambda config, work_dir, *extra, check=True: _train(
            tiny_demo_data, config, work_dir, *extra, check=check),
        'dupr_tiny.py', tmp_path)
    # the uninterrupted run: finite losses every iteration, queues saved
    logs = sorted((tmp_path / 'whole').glob('*/vis_data/scalars.json'))
    assert logs
    rows = [json.loads(line) for line in logs[-1].read_text().splitlines()]
    rows = [r for r in rows if 'loss' in r]
    assert len(rows) == 4
    for r in rows:
        for key in ('loss', 'loss_global', 'loss_reid_c3', 'loss_reid_c4',
                    'loss_reid_c5'):
            assert math.isfinite(r[key]), (key, r)
        assert r['loss_global'] > 0
    state = load_checkpoint(tmp_path / 'whole' / 'iter_4.pth')['state_dict']
    queues = 'heads.reid.patch_queues'
    for j in range(3):
        assert state[f'{queues}.{j}.queue'].shape == (24, 16)
    # iterations 3-4 enqueued keys; every level sees the same cells
    mid = load_checkpoint(tmp_path / 'split' / 'iter_2.pth')['state_dict']
    for j in range(3):
        assert not state[f'{queues}.{j}.queue'].equal(
            mid[f'{queues}.{j}.queue'])
        assert state[f'{queues}.{j}.ptr'].equal(state[f'{queues}.0.ptr'])
    assert not any(k.startswith('target_net.module.') and 'queue' in k
                   for k in state)
