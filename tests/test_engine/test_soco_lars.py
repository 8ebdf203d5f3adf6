# Copyright (c) mmalfm contributors. All rights reserved.
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.engine.optimizers import LARS
from torch import nn

from mmalfm.engine.optimizers import SoCoLARS
from mmalfm.registry import MODELS, OPTIMIZERS

# w = (3, 4), g = (-0.6, 1.2), wd = 0.2: g + wd w = (0, 2), |.| = 2, |w| = 5.
W, G, WD = [[3., 4.]], [[-0.6, 1.2]], 0.2


def _param(value, grad):
    p = nn.Parameter(torch.tensor(value, dtype=torch.float64))
    p.grad = torch.tensor(grad, dtype=torch.float64)
    return p


def test_registered():
    assert OPTIMIZERS.get('SoCoLARS') is SoCoLARS
    assert issubclass(SoCoLARS, LARS)


def test_one_step_hand_computed():
    p = _param(W, G)
    opt = SoCoLARS([p], lr=1.0, momentum=0.9, weight_decay=WD, eta=0.001)
    opt.step()
    # trust = 0.001 * 5 / (2 + 1e-8); w -= 1.0 * trust * (0, 2)
    trust = 0.001 * 5 / (2 + 1e-8)
    torch.testing.assert_close(
        p.data, torch.tensor([[3., 4. - 2 * trust]], dtype=torch.float64),
        rtol=0, atol=1e-15)
    torch.testing.assert_close(p.data[0, 1].item(), 3.995, rtol=0,
                               atol=1e-9)
    # mmpretrain's LARS divides by |g| + wd |w| = sqrt(1.8) + 1 instead.
    q = _param(W, G)
    LARS([q], lr=1.0, momentum=0.9, weight_decay=WD, eta=0.001).step()
    mm_trust = 0.001 * 5 / (math.sqrt(1.8) + 1 + 1e-8)
    torch.testing.assert_close(q.data[0, 1].item(), 4. - 2 * mm_trust,
                               rtol=0, atol=1e-12)
    assert abs(q.data[0, 1].item() - p.data[0, 1].item()) > 5e-4


def test_matches_released_wrapper_over_steps():
    """Released SoCo: LARS scales the gradients, then torch SGD steps."""
    torch.manual_seed(0)
    w0 = torch.randn(4, 3, dtype=torch.float64)
    grads = [torch.randn(4, 3, dtype=torch.float64) for _ in range(3)]
    lrs = [0.08, 0.5, 2.0]  # a warm-up: lr outside the momentum buffer
    p = nn.Parameter(w0.clone())
    ref = nn.Parameter(w0.clone())
    opt = SoCoLARS([p], lr=lrs[0], momentum=0.9, weight_decay=1e-2)
    sgd = torch.optim.SGD([ref], lr=lrs[0], momentum=0.9)
    for lr, g in zip(lrs, grads):
        for group in opt.param_groups + sgd.param_groups:
            group['lr'] = lr
        p.grad = g.clone()
        opt.step()
        d = g + 1e-2 * ref.data
        ref.grad = d * (0.001 * ref.data.norm() / (d.norm() + 1e-8))
        sgd.step()
        torch.testing.assert_close(p.data, ref.data, rtol=0, atol=1e-14)


def test_zero_weight_gets_unit_trust():
    p = _param([[0., 0.]], [[1., 2.]])
    SoCoLARS([p], lr=0.5, weight_decay=WD).step()
    torch.testing.assert_close(
        p.data, torch.tensor([[-0.5, -1.]], dtype=torch.float64))


class _Tiny(nn.Module):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(1)


def test_paramwise_exclusion_gives_plain_sgd():
    model = _Tiny().double()
    values = {
        'fc.weight': (W, G),
        'fc.bias': ([1.], [0.5]),
        'bn.weight': ([2.], [0.25]),
        'bn.bias': ([-1.], [-0.5]),
    }
    params = dict(model.named_parameters())
    for name, (value, _) in values.items():
        params[name].data = torch.tensor(value, dtype=torch.float64)
    exclude = dict(decay_mult=0, lars_exclude=True)
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(
                type='mmalfm.SoCoLARS',
                lr=1.0,
                momentum=0.9,
                weight_decay=WD,
                eta=0.001),
            paramwise_cfg=dict(custom_keys=dict(bias=exclude, bn=exclude))))
    opt = wrapper.optimizer
    assert isinstance(opt, SoCoLARS)

    def set_grads():
        for name, (_, grad) in values.items():
            params[name].grad = torch.tensor(grad, dtype=torch.float64)

    set_grads()
    opt.step()
    trust = 0.001 * 5 / (2 + 1e-8)
    torch.testing.assert_close(
        params['fc.weight'].data,
        torch.tensor([[3., 4. - 2 * trust]], dtype=torch.float64))
    # excluded: w -= lr * g (no decay, no trust ratio)
    for name, want in [('fc.bias', 0.5), ('bn.weight', 1.75),
                       ('bn.bias', -0.5)]:
        torch.testing.assert_close(params[name].data.item(), want)
    # second step at lr 0.5: buf = 0.9 g + g = 1.9 g; w -= 0.5 * 1.9 g
    for group in opt.param_groups:
        group['lr'] = 0.5
    set_grads()
    opt.step()
    for name, want in [('fc.bias', 0.5 - 0.475), ('bn.weight', 1.75 - 0.2375),
                       ('bn.bias', -0.5 + 0.475)]:
        torch.testing.assert_close(params[name].data.item(), want)


# ---------------------------------------- every SoCo config runs SoCoLARS
REPO = Path(__file__).resolve().parents[2]
SOCO_CONFIGS = sorted(
    str(p.relative_to(REPO)) for p in (REPO / 'configs' / 'soco').glob('*.py'))


def test_soco_configs_are_found():
    assert len(SOCO_CONFIGS) >= 8


@pytest.mark.parametrize('path', SOCO_CONFIGS)
def test_soco_config_builds_the_released_optimizer(path):
    """The optim wrapper of every SoCo config: SoCoLARS (not mmpretrain's
    LARS), SGD momentum 0.9, eta 0.001, eps 1e-8; every ndim <= 1
    parameter (biases, BN of backbone/FPN/head/MLPs) without decay and LARS
    scaling, every other one with wd 1e-5 and scaling; the lr of the
    config in every group; every trainable parameter in exactly one
    group."""
    cfg = Config.fromfile(str(REPO / path))
    with DefaultScope.overwrite_default_scope('mmalfm'):
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    opt = wrapper.optimizer
    assert type(opt) is SoCoLARS, path
    assert opt.eps == 1e-8
    lr = cfg.optim_wrapper.optimizer.lr
    group_of = {}
    for group in opt.param_groups:
        assert group['momentum'] == 0.9 and group['eta'] == 0.001
        assert group['lr'] == lr
        for p in group['params']:
            assert id(p) not in group_of
            group_of[id(p)] = group
    checked = 0
    for name, p in model.named_parameters():
        if not p.requires_grad:  # the EMA target
            assert name.startswith('target_net.'), name
            continue
        group = group_of[id(p)]
        if p.ndim <= 1:
            assert group['weight_decay'] == 0, name
            assert group.get('lars_exclude', False), name
        else:
            assert group['weight_decay'] == 1e-5, name
            assert not group.get('lars_exclude', False), name
        checked += 1
    assert checked > 100
