# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo resume exactness (a forked process per run, conftest.fork_tool): 4
iterations in one go == 2, killed, ``--resume``, to 4 -- bit-identical
weights, optimizer and LR schedulers. The data pipeline (crops, region sampler, jitter, photometrics,
box cutout) draws from the per-worker seeded RNG, so this also checks that
the resumed dataloader replays the same samples."""
from conftest import assert_resume_is_bit_identical, train_on_proposals


def test_soco_resume_is_bit_identical(tiny_demo_proposals, tmp_path):
    assert_resume_is_bit_identical(
        lambda config, work_dir, *extra, check=True: train_on_proposals(
            config, work_dir, tiny_demo_proposals, *extra, check=check),
        'soco_tiny.py', tmp_path)
