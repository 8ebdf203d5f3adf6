# Copyright (c) mmalfm contributors. All rights reserved.
"""Publish ``(seed, epoch)`` to the datasets' per-sample random streams."""
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop

from mmalfm.datasets.seeding import set_data_epoch
from mmalfm.registry import HOOKS

__all__ = ['PerSampleSeedHook']


@HOOKS.register_module()
class PerSampleSeedHook(Hook):
    """Make epoch-based runs resume with the same augmentations.

    In an epoch-based loop, before every epoch, write ``(runner.seed,
    runner.epoch)`` to the shared memory read by
    :func:`mmalfm.datasets.seeding.seeded_sample` (see that module for why);
    our datasets then draw item ``i`` of epoch ``e`` from generators seeded
    by ``(seed, e, i)``. Iteration-based loops are left alone (their
    workers' streams are already replayed exactly on resume). Part of
    ``default_hooks`` in ``configs/_base_/default_runtime.py``
    (``data_seed``; MMEngine does not accept None for a default hook it
    does not know, hence ``enabled``).

    Args:
        enabled (bool): False gives MMEngine's plain worker streams.
            Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def before_train_epoch(self, runner) -> None:
        if self.enabled and isinstance(runner.train_loop,
                                       EpochBasedTrainLoop):
            set_data_epoch(runner.seed, runner.epoch)

    def after_train(self, runner) -> None:
        set_data_epoch(None, None)
