# Copyright (c) mmalfm contributors. All rights reserved.
"""RepresentationHealthHook: exact metrics, a real Runner, BYOL fallback."""
import glob
import logging
import json
import math
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch import nn
from torch.utils.data import Dataset

import mmalfm  # noqa: F401  (registries)
from mmalfm.engine.hooks import RepresentationHealthHook
from mmalfm.datasets.transforms import LoadImageWithCheck
from mmalfm.engine.hooks.representation_health import (embedding_stats,
                                                       pair_stats)
from mmalfm.models.utils.health import (HEALTH_INFO_KEY, StepHealth,
                                        publish_health)
from mmalfm.registry import HOOKS

KEYS = ('std', 'eff_rank', 'mean_cos')


# --------------------------------------------------------------------------
# Metrics on hand-made tensors.
# --------------------------------------------------------------------------
def test_collapse():
    # Identical directions at different norms: normalisation removes scale.
    rows = torch.tensor([[3., 4., 0., 0., 0.]]) * torch.arange(1., 9.)[:, None]
    stats = embedding_stats(rows)
    assert stats['std'] == pytest.approx(0, abs=1e-7)
    assert stats['eff_rank'] == pytest.approx(1, abs=1e-6)
    assert stats['mean_cos'] == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize('d', [4, 16])
def test_orthonormal_one_hot(d):
    stats = embedding_stats(torch.eye(d) * 7)
    assert stats['eff_rank'] == pytest.approx(d, abs=1e-4)
    assert stats['mean_cos'] == pytest.approx(0, abs=1e-7)
    # Each column is one 1 and d-1 zeros: mean 1/d, unbiased variance
    # (1 - 1/d)^2 + (d-1)/d^2 over d-1 = 1/d, so std = 1/sqrt(d) exactly
    # (the biased std would be sqrt(d-1)/d).
    assert stats['std'] == pytest.approx(1 / math.sqrt(d), abs=1e-6)
    assert stats['std'] != pytest.approx(math.sqrt(d - 1) / d, abs=1e-4)


def test_centred_rank_of_one_hot_is_d_minus_1():
    # Centred one-hot rows sum to zero: singular values 1 (d-1 times), 0.
    stats = embedding_stats(torch.eye(8), center_rank=True)
    assert stats['eff_rank'] == pytest.approx(7, abs=1e-4)
    collapsed = embedding_stats(torch.ones(6, 3), center_rank=True)
    assert collapsed['eff_rank'] == 1


def test_two_singular_values():
    # Rows e1, -e1, e1, -e1, e2, -e2 in R^3: zero mean, columns orthogonal
    # with norms 2 and sqrt(2), so the singular values are exactly (2, √2).
    e1, e2 = torch.tensor([1., 0., 0.]), torch.tensor([0., 1., 0.])
    rows = torch.stack([e1, -e1, e1, -e1, e2, -e2])
    s = torch.tensor([2., math.sqrt(2)])
    p = s / s.sum()
    expected = math.exp(-(p * p.log()).sum().item())
    assert 1.8 < expected < 2  # two unequal values: strictly between 1 and 2
    for center in (False, True):  # the mean is zero: centring changes nothing
        stats = embedding_stats(rows, center_rank=center)
        assert stats['eff_rank'] == pytest.approx(expected, abs=1e-5)
    # Column 1 = (1,-1,1,-1,0,0): unbiased var 4/5; column 2 = (0,0,0,0,1,-1):
    # 2/5; column 3: 0.
    assert stats['std'] == pytest.approx((math.sqrt(0.8) + math.sqrt(0.4)) / 3,
                                         abs=1e-6)
    # sum of all cosines is |sum z|^2 = 0; minus the 6 diagonal ones, / 30.
    assert stats['mean_cos'] == pytest.approx(-0.2, abs=1e-6)


def test_max_samples_and_flattening():
    # The first 4 rows are one-hot, the rest collapsed: only rows < 4 count.
    rows = torch.cat([torch.eye(4), torch.ones(10, 4)]).view(14, 2, 2)
    assert embedding_stats(rows, max_samples=4)['eff_rank'] == pytest.approx(
        4, abs=1e-4)
    # All 14 rows: the 10 collapsed ones dominate one direction.
    assert embedding_stats(rows)['eff_rank'] < 3.5
    assert embedding_stats(torch.ones(1, 4)) == {}


def test_pair_stats():
    # Per-image counts: the images are the entries.
    assert pair_stats(
        StepHealth(pos_pairs=torch.tensor([1, 0, 3]),
                   possible_pairs=torch.tensor([4, 4, 4]))) == dict(
                       pos_frac=4 / 12, num_pos=4 / 3)
    # Without possible pairs (or none possible): no pos_frac.
    assert pair_stats(StepHealth(pos_pairs=torch.tensor([2, 3]))) == dict(
        num_pos=2.5)
    assert pair_stats(
        StepHealth(pos_pairs=torch.tensor([0, 0]),
                   possible_pairs=torch.tensor([0, 0]))) == dict(num_pos=0.)
    # A match mask [N, R1, R2]: summed per image.
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    mask[0, 0, 0] = mask[0, 1, 2] = mask[1, 2, 3] = True
    assert pair_stats(
        StepHealth(pos_pairs=mask,
                   possible_pairs=torch.tensor([12, 12]))) == dict(
                       pos_frac=3 / 24, num_pos=1.5)
    assert pair_stats(StepHealth(embeddings=torch.eye(2))) == {}


def test_publish_health_detaches_and_is_not_resumed():
    # a new instance is the current one (where models publish)
    hub = MessageHub.get_instance(f'test_health_publish_{id(object())}')
    assert MessageHub.get_current_instance() is hub
    x = torch.ones(2, 3, requires_grad=True)
    publish_health(StepHealth(embeddings=x * 2, branches=dict(g=x * 3),
                              pos_pairs=torch.tensor([1, 2])))
    health = hub.get_info(HEALTH_INFO_KEY)
    assert health.embeddings.tolist() == [[2.] * 3] * 2
    assert not health.embeddings.requires_grad
    assert not health.branches['g'].requires_grad
    assert health.pos_pairs.tolist() == [1, 2]
    assert HEALTH_INFO_KEY not in hub.state_dict()['runtime_info']


def test_registered_and_validated():
    hook = HOOKS.build(dict(type='RepresentationHealthHook', interval=5))
    assert isinstance(hook, RepresentationHealthHook) and hook.interval == 5
    with pytest.raises(ValueError):
        RepresentationHealthHook(interval=0)


# --------------------------------------------------------------------------
# A real Runner with a model that publishes its StepHealth.
# --------------------------------------------------------------------------
D = 4
REGIONS = 4  # candidate pairs per image


def _batch_rows(batch: int) -> torch.Tensor:
    """Known embeddings of the 4 rows of training batch 1..4."""
    return {
        1:
        torch.tensor([[1., 1., 0., 0.]]).repeat(4, 1),  # collapsed
        2:
        torch.eye(D) * 2,  # orthonormal directions
        3:
        torch.tensor([[1., 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0],
                      [0, -1, 0, 0]]),
        4:
        torch.tensor([[0., 0., 3., 0.]]).repeat(4, 1),  # collapsed
    }[batch]


class ToyDataset(Dataset):
    """16 samples in order: iteration k sees samples 4(k-1)..4k-1."""

    def __len__(self):
        return 16

    def __getitem__(self, i):
        rows = _batch_rows(i // 4 + 1)
        return dict(inputs=rows[i % 4], pos=i // 4 + i % 2)


class ToyHealthModel(BaseModel):
    """An identity ``neck``; each forward publishes its ``StepHealth``."""

    def __init__(self):
        super().__init__()
        self.neck = nn.Linear(D, D, bias=False)
        with torch.no_grad():
            self.neck.weight.copy_(torch.eye(D))
        self.neck.weight.requires_grad_(False)
        self.offset = nn.Parameter(torch.zeros(1))

    def forward(self, inputs, pos=None, mode='loss'):
        emb = self.neck(torch.stack(inputs))
        pos = torch.as_tensor(pos)
        publish_health(
            StepHealth(embeddings=emb,
                       pos_pairs=pos,
                       possible_pairs=torch.full_like(pos, REGIONS)))
        return dict(loss=(emb.sum() * 0 + self.offset).square().sum())


class RecordHub(Hook):
    """After the health hook, the length of each scalar's history."""
    priority = 'LOWEST'

    def __init__(self):
        self.lengths = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        hub = runner.message_hub.log_scalars
        self.lengths.append({
            key:
            len(hub[f'train/health/{key}'].data[0])
            if f'train/health/{key}' in hub else 0
            for key in KEYS + ('pos_frac', 'num_pos')
        })


def test_hook_in_runner(tmp_path):
    from mmengine.runner import Runner
    record = RecordHub()
    runner = Runner(model=ToyHealthModel(),
                    work_dir=str(tmp_path),
                    train_dataloader=dict(dataset=ToyDataset(),
                                          sampler=dict(type='DefaultSampler',
                                                       shuffle=False),
                                          batch_size=4,
                                          num_workers=0),
                    train_cfg=dict(by_epoch=False, max_iters=4),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                    default_hooks=dict(logger=dict(type='LoggerHook',
                                                   interval=1),
                                       checkpoint=None),
                    log_processor=dict(by_epoch=False),
                    custom_hooks=[
                        dict(type='RepresentationHealthHook', interval=2),
                        record
                    ],
                    default_scope='mmalfm',
                    experiment_name='health_runner')
    runner.train()

    # Logged at iterations 2 and 4 only.
    for key in KEYS + ('pos_frac', 'num_pos'):
        assert [rec[key] for rec in record.lengths] == [0, 1, 1, 2], key

    def history(key):
        return runner.message_hub.get_scalar(f'train/health/{key}').data[0]

    # Iteration 2: one-hot rows; iteration 4: collapsed rows.
    assert history('eff_rank') == pytest.approx([4, 1], abs=1e-4)
    assert history('std') == pytest.approx([0.5, 0], abs=1e-6)
    assert history('mean_cos') == pytest.approx([0, 1], abs=1e-6)
    # pos = 1,2,1,2 (sum 6) at iteration 2 and 3,4,3,4 (sum 14) at 4, of
    # 4 images x 4 candidate pairs.
    assert history('pos_frac') == pytest.approx([6 / 16, 14 / 16])
    assert history('num_pos') == pytest.approx([1.5, 3.5])
    # Never a stale forward hook on the neck.
    assert not runner.model.neck._forward_hooks

    # The scalars reach the text log and the visualizer backend.
    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    assert 'health/eff_rank: 4.0000' in log
    assert 'health/pos_frac: 0.8750' in log
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        logged = [json.loads(line) for line in f]
    ranks = {
        rec['step']: rec['health/eff_rank']
        for rec in logged if 'health/eff_rank' in rec
    }
    assert min(ranks) == 2
    assert ranks[2] == pytest.approx(4, abs=1e-4)
    assert ranks[4] == pytest.approx(1, abs=1e-4)


def _skip_runner(name, num_workers):
    return SimpleNamespace(
        model=nn.Module(),
        iter=0,
        train_dataloader=SimpleNamespace(num_workers=num_workers),
        message_hub=MessageHub.get_instance(name))


def _log_once(runner):
    hook = RepresentationHealthHook(interval=1)
    hook.before_train_iter(runner, 0)
    hook.after_train_iter(runner, 0)
    return runner.message_hub.log_scalars


def test_skipped_images_logged(monkeypatch):
    monkeypatch.setattr(LoadImageWithCheck, 'skipped_count',
                        classmethod(lambda cls: 5))
    logged = _log_once(_skip_runner('test_health_skipped', 2))
    assert logged['train/health/skipped_images'].current() == 5
    # Nothing else is known about this model.
    assert 'train/health/std' not in logged


# --------------------------------------------------------------------------
# The fallback on model.neck.
# --------------------------------------------------------------------------
class TupleNeck(nn.Module):

    def forward(self, x):
        return (x * 2, )


def test_neck_fallback_keeps_first_call():
    model = nn.Module()
    model.neck = TupleNeck()
    hook = RepresentationHealthHook(interval=2, prefix='h')
    runner = SimpleNamespace(
        model=model,
        iter=0,
        message_hub=MessageHub.get_instance('test_health_fallback'))
    # Iteration 1 is not logged: no forward hook.
    hook.before_train_iter(runner, 0)
    assert not model.neck._forward_hooks
    hook.after_train_iter(runner, 0)
    runner.iter = 1
    hook.before_train_iter(runner, 1)
    assert len(model.neck._forward_hooks) == 1
    model.neck(torch.eye(3).view(3, 3, 1))  # first call: one-hot, [3, 3, 1]
    model.neck(torch.ones(3, 3, 1))  # second view: ignored
    hook.after_train_iter(runner, 1)
    assert not model.neck._forward_hooks
    hub = runner.message_hub
    assert hub.get_scalar('train/h/eff_rank').current() == pytest.approx(
        3, abs=1e-4)
    assert hub.get_scalar('train/h/mean_cos').current() == pytest.approx(
        0, abs=1e-6)


def test_byol_fallback_one_step():
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='BYOL',
             data_preprocessor=dict(type='SelfSupDataPreprocessor',
                                    mean=[123.675, 116.28, 103.53],
                                    std=[58.395, 57.12, 57.375],
                                    to_rgb=True),
             backbone=dict(type='ResNet',
                           depth=18,
                           stem_channels=8,
                           base_channels=8,
                           norm_cfg=dict(type='BN')),
             neck=dict(type='NonLinearNeck',
                       in_channels=64,
                       hid_channels=32,
                       out_channels=16,
                       num_layers=2,
                       with_bias=True,
                       with_last_bn=False,
                       with_avg_pool=True),
             head=dict(type='LatentPredictHead',
                       loss=dict(type='CosineSimilarityLoss'),
                       predictor=dict(type='NonLinearNeck',
                                      in_channels=16,
                                      hid_channels=32,
                                      out_channels=16,
                                      num_layers=2,
                                      with_bias=True,
                                      with_last_bn=False,
                                      with_avg_pool=False))))
    model.train()
    batch = 4
    data = dict(inputs=[
        torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8)
        for _ in range(2)
    ],
                data_samples=[DataSample() for _ in range(batch)])
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    hook = RepresentationHealthHook(interval=3)
    runner = SimpleNamespace(
        model=model,
        iter=2,
        message_hub=MessageHub.get_instance('test_health_byol'))

    hook.before_train_iter(runner, 2, data)
    outputs = model.train_step(data, optim)
    hook.after_train_iter(runner, 2, data, outputs)

    hub = runner.message_hub
    values = {
        key: hub.get_scalar(f'train/health/{key}').current()
        for key in KEYS
    }
    assert all(math.isfinite(v) for v in values.values()), values
    # 4 images of 16-d projections (one view): rank at most 4.
    assert 1 <= values['eff_rank'] <= batch + 1e-4
    assert 0 <= values['std'] <= 1
    assert -1 <= values['mean_cos'] <= 1
    assert 'train/health/pos_frac' not in hub.log_scalars
    assert not model.neck._forward_hooks


# --------------------------------------------------------------------------
# Several branches and the collapse guard.
# --------------------------------------------------------------------------
SPREAD = torch.eye(4)  # std 0.5, eff_rank 4
COLLAPSED = torch.ones(4, 4)  # std 0, eff_rank 1


class ListHandler(logging.Handler):

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, level):
        return [r.getMessage() for r in self.records if r.levelno == level]


class BranchModel(nn.Module):
    """A neck; the test publishes the step's health (:func:`_publish`)."""

    def __init__(self):
        super().__init__()
        self.neck = TupleNeck()


def _guard_runner(name):
    logger = logging.getLogger(f'mmalfm_test_{name}')
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = ListHandler()
    logger.handlers = [handler]
    runner = SimpleNamespace(model=BranchModel(),
                             iter=0,
                             logger=logger,
                             message_hub=MessageHub.get_instance(name))
    return runner, handler


def _publish(runner, health):
    """What a model's step does: its ``StepHealth`` in the hub."""
    runner.message_hub.update_info(HEALTH_INFO_KEY, StepHealth(**health),
                                   resumed=False)


def _check(hook, runner, health):
    """One logged iteration whose step publishes ``health`` (a dict of
    ``StepHealth`` fields)."""
    hook.before_train_iter(runner, runner.iter)
    _publish(runner, health)
    hook.after_train_iter(runner, runner.iter)
    runner.iter += 1


def test_branch_scalars_and_no_neck_fallback():
    hook = RepresentationHealthHook(interval=1)
    runner, _ = _guard_runner('test_health_branches')
    _check(hook, runner,
           dict(embeddings=SPREAD, branches=dict(gmsr=SPREAD,
                                                 cdlp=COLLAPSED)))
    hub = runner.message_hub

    def cur(key):
        return hub.get_scalar(f'train/health/{key}').current()

    assert cur('std') == pytest.approx(0.5, abs=1e-6)  # flat, unchanged
    assert cur('gmsr/eff_rank') == pytest.approx(4, abs=1e-4)
    assert cur('gmsr/mean_cos') == pytest.approx(0, abs=1e-6)
    assert cur('cdlp/std') == pytest.approx(0, abs=1e-7)
    assert cur('cdlp/eff_rank') == pytest.approx(1, abs=1e-6)
    # Branches only: the neck output is not used as flat embeddings.
    runner2, _ = _guard_runner('test_health_branches_only')
    hook.before_train_iter(runner2, 0)
    runner2.model.neck(torch.eye(3))
    _publish(runner2, dict(branches=dict(gmsr=SPREAD)))
    hook.after_train_iter(runner2, 0)
    logged = runner2.message_hub.log_scalars
    assert 'train/health/gmsr/std' in logged
    assert 'train/health/std' not in logged


def test_stale_health_of_an_earlier_step_is_not_read():
    hook = RepresentationHealthHook(interval=1)
    runner, _ = _guard_runner('test_health_stale')
    _publish(runner, dict(branches=dict(gmsr=SPREAD)))  # an earlier step
    hook.before_train_iter(runner, 0)
    runner.model.neck(torch.eye(3))  # this step publishes nothing
    hook.after_train_iter(runner, 0)
    hub = runner.message_hub
    assert 'train/health/gmsr/std' not in hub.log_scalars
    assert hub.get_scalar('train/health/eff_rank').current() == \
        pytest.approx(3, abs=1e-4)


def test_guard_warns_once_after_patience_and_rearms():
    hook = RepresentationHealthHook(interval=1, std_floor=0.1, patience=3)
    runner, log = _guard_runner('test_health_guard')
    bad = dict(branches=dict(gmsr=SPREAD, cdlp=COLLAPSED))
    good = dict(branches=dict(gmsr=SPREAD, cdlp=SPREAD))
    for _ in range(2):
        _check(hook, runner, bad)
    assert log.messages(logging.WARNING) == []  # 2 < patience
    _check(hook, runner, bad)  # 3rd consecutive bad check
    warnings = log.messages(logging.WARNING)
    assert len(warnings) == 1
    msg = warnings[0]
    assert "branch 'cdlp'" in msg and 'gmsr' not in msg.split('Try:')[0]
    assert 'std = 0 < std_floor = 0.1' in msg
    assert 'for 3 consecutive checks (iterations 1-3' in msg
    assert 'Try: lower the learning rate' in msg
    for _ in range(4):  # still collapsed: not repeated
        _check(hook, runner, bad)
    assert len(log.messages(logging.WARNING)) == 1
    _check(hook, runner, good)  # recovery: one INFO line, re-armed
    infos = log.messages(logging.INFO)
    assert len(infos) == 1 and "branch 'cdlp' recovered" in infos[0]
    for _ in range(2):
        _check(hook, runner, bad)
    assert len(log.messages(logging.WARNING)) == 1
    _check(hook, runner, bad)
    warnings = log.messages(logging.WARNING)
    assert len(warnings) == 2 and 'iterations 9-11' in warnings[1]


def test_guard_needs_consecutive_bad_checks():
    hook = RepresentationHealthHook(interval=1,
                                    rank_floor=2.0,
                                    patience=2,
                                    guard_begin=2)
    runner, log = _guard_runner('test_health_guard_reset')
    bad = dict(embeddings=COLLAPSED)
    good = dict(embeddings=SPREAD)
    # Iterations 0 and 1 are before guard_begin: they do not count.
    for health in (bad, bad, bad, good, bad, good, bad):
        _check(hook, runner, health)
    assert log.messages(logging.WARNING) == []
    _check(hook, runner, bad)  # iterations 6 and 7 bad in a row
    warnings = log.messages(logging.WARNING)
    assert len(warnings) == 1
    assert "branch 'embeddings': eff_rank = 1 < rank_floor = 2" in warnings[0]


def test_guard_per_branch_floors():
    hook = RepresentationHealthHook(interval=1,
                                    std_floor=dict(gmsr=0.1),
                                    rank_floor=dict(cdlp=2),
                                    patience=1)
    runner, log = _guard_runner('test_health_guard_dict')
    # gmsr collapsed: std below its floor (its rank is not guarded); cdlp
    # collapsed: only its rank is guarded.
    _check(hook, runner, dict(branches=dict(gmsr=COLLAPSED, cdlp=COLLAPSED)))
    warnings = sorted(log.messages(logging.WARNING))
    assert len(warnings) == 2
    assert "branch 'cdlp': eff_rank" in warnings[0]
    assert "branch 'gmsr': std" in warnings[1]
    # The guard is off by default.
    off = RepresentationHealthHook(interval=1)
    runner, log = _guard_runner('test_health_guard_off')
    for _ in range(5):
        _check(off, runner, dict(embeddings=COLLAPSED))
    assert log.records == []


def test_guard_arguments_validated():
    with pytest.raises(ValueError, match='patience'):
        RepresentationHealthHook(patience=0)
    with pytest.raises(ValueError, match='guard_begin'):
        RepresentationHealthHook(guard_begin=-1)
    with pytest.raises(TypeError, match='std_floor'):
        RepresentationHealthHook(std_floor='0.1')
    with pytest.raises(TypeError, match='rank_floor'):
        RepresentationHealthHook(rank_floor=dict(gmsr='x'))
    hook = RepresentationHealthHook(interval=1)
    runner, _ = _guard_runner('test_health_bad_branch')
    with pytest.raises(ValueError, match="without '/'"):
        _check(hook, runner, dict(branches={'a/b': SPREAD}))
    with pytest.raises(TypeError, match='dict'):
        _check(hook, runner, dict(branches=[SPREAD]))


class CollapsingModel(BaseModel):
    """Two branches; ``cdlp`` collapses from iteration 3 on."""

    def __init__(self):
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, inputs, pos=None, mode='loss'):
        self.calls += 1
        cdlp = SPREAD if self.calls < 3 else COLLAPSED
        publish_health(StepHealth(branches=dict(gmsr=SPREAD, cdlp=cdlp)))
        return dict(loss=self.offset.square().sum())


def test_guard_in_runner_log(tmp_path):
    from mmengine.runner import Runner
    runner = Runner(model=CollapsingModel(),
                    work_dir=str(tmp_path),
                    train_dataloader=dict(dataset=ToyDataset(),
                                          sampler=dict(type='DefaultSampler',
                                                       shuffle=False),
                                          batch_size=2,
                                          num_workers=0),
                    train_cfg=dict(by_epoch=False, max_iters=8),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                    default_hooks=dict(logger=dict(type='LoggerHook',
                                                   interval=1),
                                       checkpoint=None),
                    log_processor=dict(by_epoch=False),
                    custom_hooks=[
                        dict(type='RepresentationHealthHook',
                             interval=1,
                             std_floor=0.05,
                             rank_floor=1.5,
                             patience=3)
                    ],
                    default_scope='mmalfm',
                    experiment_name='health_guard_runner')
    runner.train()
    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    # Bad from iteration 3 on: warned at iteration 5, once per metric.
    assert log.count("possible collapse of branch 'cdlp'") == 2
    assert log.count("possible collapse of branch 'cdlp': std") == 1
    assert log.count("possible collapse of branch 'cdlp': eff_rank") == 1
    assert 'WARNING' in log and "branch 'gmsr'" not in log
    assert 'iterations 3-5' in log
    assert 'health/cdlp/eff_rank: 1.0000' in log
    assert 'health/gmsr/eff_rank: 4.0000' in log
