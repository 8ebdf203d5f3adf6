# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL end to end (a forked process per run, conftest.fork_tool):
tools/train.py on the tiny demo data trains (finite losses, the five terms
logged), and resume is bit-identical, the MoCo queue and its pointer
included."""
import json

import pytest
import torch
from conftest import (assert_resume_is_bit_identical, load_checkpoint,
                      train_on_coco)

TERMS = ('loss_global', 'loss_p4', 'loss_p3', 'loss_p4_p3', 'loss_p3_p4')
_train = train_on_coco  # forked children (conftest.fork_tool)


def _scalars(work_dir):
    logs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert logs, f'no scalars.json under {work_dir}'
    with open(logs[-1]) as f:
        return [json.loads(line) for line in f if 'loss' in line]


def test_crosscl_resume_restores_the_queue_exactly(tiny_demo_data, tmp_path):
    assert_resume_is_bit_identical(
        lambda config, work_dir, *extra, check=True: _train(
            config, work_dir, tiny_demo_data, *extra, check=check),
        'crosscl_tiny.py', tmp_path)
    # the queue (12 keys, 4 per iteration) and its pointer: 8 after two
    # iterations, wrapped to 4 after four; equal in both runs (above)
    half = load_checkpoint(tmp_path / 'split' / 'iter_2.pth')['state_dict']
    whole = load_checkpoint(tmp_path / 'whole' / 'iter_4.pth')['state_dict']
    assert int(half['heads.moco.head.queue.ptr']) == 8
    assert int(whole['heads.moco.head.queue.ptr']) == 4
    queue = whole['heads.moco.head.queue.queue']
    assert queue.shape == (12, 16)
    torch.testing.assert_close(queue.norm(dim=1), torch.ones(12))
    # rows 0-3 (iteration 3 wrapped) differ from those saved at iteration 2
    assert not torch.equal(queue[:4], half['heads.moco.head.queue.queue'][:4])
    assert torch.equal(queue[4:8], half['heads.moco.head.queue.queue'][4:8])
    # the uninterrupted run logged the five finite terms every iteration
    rows = _scalars(tmp_path / 'whole')
    assert len(rows) == 4
    for row in rows:
        for term in TERMS:
            assert term in row and row[term] == pytest.approx(
                row[term]) and abs(row[term]) < 1e4, (term, row)
        assert row['loss'] == pytest.approx(
            sum(row[t] for t in TERMS), rel=1e-4)
