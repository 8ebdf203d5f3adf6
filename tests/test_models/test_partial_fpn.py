# Copyright (c) mmalfm contributors. All rights reserved.
import math

import pytest
import torch
from torch import nn

from mmalfm.models.necks import PartialFPN
from mmalfm.registry import MODELS

NAMES = [
    f'{n}.{p}' for n in ('fpn_lateral3', 'fpn_lateral4', 'fpn_lateral5',
                         'fpn_output3', 'fpn_output4')
    for p in ('weight', 'bias')
]


def test_names_no_norm_no_p5():
    fpn = MODELS.build(dict(type='PartialFPN'))
    assert isinstance(fpn, PartialFPN)
    assert sorted(n for n, _ in fpn.named_parameters()) == sorted(NAMES)
    assert sorted(fpn.state_dict()) == sorted(NAMES)  # no buffers / norms
    assert all(
        isinstance(m, (PartialFPN, nn.Conv2d)) for m in fpn.modules())
    assert fpn.fpn_lateral5.weight.shape == (256, 2048, 1, 1)
    assert fpn.fpn_lateral4.weight.shape == (256, 1024, 1, 1)
    assert fpn.fpn_lateral3.weight.shape == (256, 512, 1, 1)
    assert fpn.fpn_output4.weight.shape == (256, 256, 3, 3)


def test_init_kaiming_uniform_a1_zero_bias():
    torch.manual_seed(0)
    fpn = PartialFPN()
    for name in ('fpn_lateral5', 'fpn_output3'):
        conv = getattr(fpn, name)
        fan_in = conv.weight[0].numel()
        bound = math.sqrt(3 / fan_in)  # gain sqrt(2 / (1 + a^2)) = 1
        w = conv.weight.abs()
        assert w.max() <= bound and w.max() > 0.99 * bound
        assert torch.all(conv.bias == 0)
    before = {k: v.clone() for k, v in fpn.state_dict().items()}
    fpn.init_weights()  # init_cfg None: keeps the constructor init
    assert all(torch.equal(before[k], v) for k, v in fpn.state_dict().items())


def test_output_shapes_224():
    fpn = PartialFPN()
    c3, c4, c5 = (torch.randn(1, 512, 28, 28), torch.randn(1, 1024, 14, 14),
                  torch.randn(1, 2048, 7, 7))
    with torch.no_grad():
        out = fpn((c3, c4, c5))
    assert isinstance(out, tuple) and len(out) == 2
    p3, p4 = out
    assert p3.shape == (1, 256, 28, 28) and p4.shape == (1, 256, 14, 14)
    with pytest.raises(ValueError, match='C3, C4, C5'):
        fpn((c3, c4))
    with pytest.raises(ValueError):
        PartialFPN(in_channels=(256, 512, 1024, 2048))


def _set(conv, w, b):
    with torch.no_grad():
        conv.weight.fill_(w)
        conv.bias.fill_(b)


def test_top_down_hand_computed():
    fpn = PartialFPN(in_channels=(2, 3, 4), out_channels=1)
    _set(fpn.fpn_lateral5, 1., 0.5)  # m5 = 4 * 1 + 0.5 = 4.5
    _set(fpn.fpn_lateral4, 2., 0.)  # lat4 = 3 * 2 = 6 ; m4 = 6 + 4.5 = 10.5
    _set(fpn.fpn_lateral3, 1., 1.)  # lat3 = 2 + 1 = 3 ; m3 = 3 + 10.5 = 13.5
    _set(fpn.fpn_output4, 1., 0.)  # all-ones 3x3 on a 2x2 map: 4 * 10.5
    _set(fpn.fpn_output3, 0., 0.25)
    with torch.no_grad():
        fpn.fpn_output3.weight[0, 0, 1, 1] = 1.  # identity + 0.25
    c3, c4, c5 = (torch.ones(1, 2, 4, 4), torch.ones(1, 3, 2, 2),
                  torch.ones(1, 4, 1, 1))
    p3, p4 = fpn((c3, c4, c5))
    assert torch.allclose(p4, torch.full((1, 1, 2, 2), 42.))
    assert torch.allclose(p3, torch.full((1, 1, 4, 4), 13.75))


def test_nearest_upsampling():
    fpn = PartialFPN(in_channels=(1, 1, 1), out_channels=1)
    _set(fpn.fpn_lateral5, 1., 0.)
    _set(fpn.fpn_lateral4, 0., 0.)
    _set(fpn.fpn_lateral3, 0., 0.)
    for conv in (fpn.fpn_output3, fpn.fpn_output4):
        _set(conv, 0., 0.)
        with torch.no_grad():
            conv.weight[0, 0, 1, 1] = 1.
    c5 = torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)
    p3, p4 = fpn((torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 4, 4), c5))
    exp4 = c5.repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.equal(p4, exp4)
    assert torch.equal(p3, exp4.repeat_interleave(2, 2).repeat_interleave(
        2, 3))
    # odd sizes (e.g. 200 px views) resize to the lateral instead of failing
    p3, p4 = fpn((torch.zeros(1, 1, 25, 25), torch.zeros(1, 1, 13, 13),
                  torch.zeros(1, 1, 7, 7)))
    assert p3.shape[-2:] == (25, 25) and p4.shape[-2:] == (13, 13)


def test_export_key_maps():
    d2 = PartialFPN.detectron2_key_map(prefix='neck.')
    assert len(d2) == 10
    assert d2['neck.fpn_lateral3.weight'] == 'backbone.fpn_lateral3.weight'
    assert d2['neck.fpn_output4.bias'] == 'backbone.fpn_output4.bias'
    mm = PartialFPN.mmdet_key_map()
    assert mm['fpn_lateral3.weight'] == 'neck.lateral_convs.0.conv.weight'
    assert mm['fpn_lateral5.bias'] == 'neck.lateral_convs.2.conv.bias'
    assert mm['fpn_output4.weight'] == 'neck.fpn_convs.1.conv.weight'
    mm = PartialFPN.mmdet_key_map(c3_index=1, with_bias=False)
    assert len(mm) == 5 and not any(k.endswith('bias') for k in mm)
    assert mm['fpn_output3.weight'] == 'neck.fpn_convs.1.conv.weight'
    # the mapped names exist in a real mmdet FPN with the same channels
    from mmdet.models.necks import FPN
    ref = FPN([256, 512, 1024, 2048], 256, num_outs=5, start_level=1)
    names = {f'neck.{k}' for k in ref.state_dict()}
    assert set(PartialFPN.mmdet_key_map().values()) <= names
    ours = PartialFPN().state_dict()
    theirs = {f'neck.{k}': v for k, v in ref.state_dict().items()}
    for k, v in PartialFPN.mmdet_key_map().items():
        assert ours[k].shape == theirs[v].shape
