# Copyright (c) mmalfm contributors. All rights reserved.
"""Hooks used only by the test suite (imported through `custom_imports`)."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmalfm.registry import HOOKS


@HOOKS.register_module()
class InterruptAtIterHook(Hook):
    """Simulate a killed job: exit right after iteration ``iteration`` (and
    after the checkpoint hook, which has a higher priority, saved it)."""

    priority = 'LOWEST'

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            raise SystemExit(3)


@HOOKS.register_module()
class DumpRankParamsHook(Hook):
    """Write each rank's parameters to ``work_dir/params_rank{r}.pth``."""

    def after_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        params = {k: v.detach().clone() for k, v in model.named_parameters()}
        torch.save(params, osp.join(runner.work_dir,
                                    f'params_rank{get_rank()}.pth'))


@HOOKS.register_module()
class InterruptAtEpochHook(Hook):
    """Simulate a job killed right after epoch ``epoch`` (1-based) and its
    checkpoint (the checkpoint hook has a higher priority)."""

    priority = 'LOWEST'

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == self.epoch:  # incremented after this hook
            raise SystemExit(3)
