# Copyright (c) mmalfm contributors. All rights reserved.
"""NonFiniteCheckHook: the one non-finite guard of every training path."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from mmalfm.engine.hooks import NonFiniteCheckHook
from mmalfm.engine.hooks.non_finite import non_finite_names
from mmalfm.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class _Twenty(Dataset):
    """Twenty scalar samples: ten batches of two."""

    def __len__(self):
        return 20

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i)]))


@MODELS.register_module(force=True)
class _FaultyModel(BaseModel):
    """A linear model whose loss (or BN running variance) turns non-finite
    at a chosen 0-based global iteration."""

    def __init__(self, bad_iter=-1, fault='loss'):
        super().__init__()
        self.fc = nn.Linear(1, 1)
        self.bn = nn.BatchNorm1d(1)
        self.bad_iter, self.fault = bad_iter, fault

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.bn(self.fc(x))
        loss = out.pow(2).mean()
        it = MessageHub.get_current_instance().get_info('iter')
        if it == self.bad_iter:
            if self.fault == 'loss':
                loss = loss * float('nan')
            else:
                self.bn.running_var.data.fill_(float('inf'))
        return dict(loss_main=loss, loss_aux=torch.ones(()))


def _runner(tmp_path, bad_iter, fault='loss', by_epoch=True, **hook):
    train_cfg = dict(by_epoch=True, max_epochs=2) if by_epoch else dict(
        by_epoch=False, max_iters=20)
    return Runner(
        model=dict(type='_FaultyModel', bad_iter=bad_iter, fault=fault),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=_Twenty(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=train_cfg,
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(
                type='CheckpointHook', interval=1, by_epoch=by_epoch),
            non_finite=dict(type='NonFiniteCheckHook', **hook)),
        default_scope='mmalfm',
        log_level='WARNING',
        experiment_name=f'nf_{tmp_path.name}')


def test_non_finite_names_lists_only_bad_tensors():
    named = [('a', torch.ones(3)), ('b', torch.tensor([1., float('inf')])),
             ('c', torch.tensor([float('nan')]))]
    assert non_finite_names(named) == ['b', 'c']
    assert non_finite_names(named[:1]) == []
    assert non_finite_names([]) == []


def test_loss_names_term_and_iteration_as_the_log_counts(tmp_path):
    """NaN at 0-based iteration 6 of epoch 1 (10 per epoch): the log calls
    it [1][7/10]; no checkpoint of that epoch is written."""
    runner = _runner(tmp_path, bad_iter=6)
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    msg = str(err.value)
    assert 'Epoch(train) [1][7/10] (iteration 7 of the run)' in msg
    assert 'loss_main=nan' in msg and 'loss_aux' not in msg
    assert '`optim_wrapper.optimizer.lr` (now 0.01)' in msg
    assert not (tmp_path / 'epoch_1.pth').exists()


def test_second_epoch_and_iteration_based_numbering(tmp_path):
    runner = _runner(tmp_path / 'e', bad_iter=12)  # epoch 2, batch 3
    with pytest.raises(FloatingPointError, match=r'\[2\]\[3/10\] '
                       r'\(iteration 13 of the run\)'):
        runner.train()
    assert (tmp_path / 'e' / 'epoch_1.pth').exists()
    runner = _runner(tmp_path / 'i', bad_iter=6, by_epoch=False)
    with pytest.raises(FloatingPointError, match=r'Iter\(train\) \[7/20\]'):
        runner.train()
    assert (tmp_path / 'i' / 'iter_6.pth').exists()
    assert not (tmp_path / 'i' / 'iter_7.pth').exists()


def test_statistic_with_finite_loss_is_caught(tmp_path):
    """A running variance going to inf while the loss stays finite (what a
    huge learning rate does to BYOL) stops the run, naming the buffer."""
    runner = _runner(tmp_path, bad_iter=3, fault='buffer', by_epoch=False)
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    msg = str(err.value)
    assert 'Iter(train) [4/20]: bn.running_var' in msg
    assert 'the loss was still finite' in msg
    assert not (tmp_path / 'iter_4.pth').exists()


def test_params_interval_zero_still_refuses_the_checkpoint(tmp_path):
    runner = _runner(
        tmp_path, bad_iter=3, fault='buffer', by_epoch=False,
        params_interval=0)
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    assert 'Refusing to save the checkpoint of iteration 4 (epoch 0)' in \
        str(err.value)
    assert 'bn.running_var' in str(err.value)
    assert not (tmp_path / 'iter_4.pth').exists()
    assert (tmp_path / 'iter_3.pth').exists()


def test_disabled_hook_lets_nan_through(tmp_path):
    """The negative control: without the guard the NaN trains on."""
    runner = _runner(tmp_path, bad_iter=2, by_epoch=False, enabled=False)
    runner.train()
    assert (tmp_path / 'iter_20.pth').exists()


def test_bad_arguments():
    with pytest.raises(ValueError, match='params_interval'):
        NonFiniteCheckHook(params_interval=-1)


def test_every_runtime_has_the_guard():
    """Every config with the default runtime (all methods and BYOL) gets
    the hook, before the logger and the checkpoint hook."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/default_runtime.py'))
    assert cfg.default_hooks.non_finite == dict(type='NonFiniteCheckHook')
    order = ['ABOVE_NORMAL', 'BELOW_NORMAL', 'VERY_LOW']
    from mmengine.hooks import CheckpointHook, LoggerHook
    from mmengine.runner import get_priority
    assert [get_priority(p) for p in order] == sorted(
        get_priority(h.priority)
        for h in (NonFiniteCheckHook, LoggerHook, CheckpointHook))


def test_finite_run_trains_to_the_end(tmp_path):
    """No false alarm: a finite run checks every iteration and finishes."""
    runner = _runner(tmp_path, bad_iter=-1, by_epoch=False)
    runner.train()
    assert (tmp_path / 'iter_20.pth').exists()
