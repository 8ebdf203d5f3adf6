# Copyright (c) mmalfm contributors. All rights reserved.
"""PrototypeHead: DINO-style MLP -> L2-norm -> weight-normalised prototypes."""
import copy

import pytest
import torch
from mmengine.model import ExponentialMovingAverage

import mmalfm  # noqa: F401
from mmalfm.models.heads import PrototypeHead
from mmalfm.registry import MODELS


def test_registered_and_layer_layout():
    head = MODELS.build(
        dict(type='PrototypeHead', in_channels=8, hid_channels=16,
             bottleneck_channels=4, num_prototypes=6))
    assert isinstance(head, PrototypeHead)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 16),
                                                                 (16, 16),
                                                                 (16, 4)]
    assert sum(isinstance(m, torch.nn.GELU) for m in head.mlp) == 2
    assert head.prototypes.weight.shape == (6, 4)
    assert head.prototypes.bias is None
    assert head.gain is None
    assert set(head.state_dict()) == {
        'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias',
        'mlp.4.weight', 'mlp.4.bias', 'prototypes.weight'
    }


def test_logits_are_cosines_to_normalised_prototypes():
    """num_layers=1: logits = normalize(W x + b) . normalize(V_k)."""
    head = PrototypeHead(
        in_channels=2, hid_channels=5, bottleneck_channels=2,
        num_prototypes=3, num_layers=1)
    with torch.no_grad():
        head.mlp[0].weight.copy_(torch.eye(2))
        head.mlp[0].bias.zero_()
        head.prototypes.weight.copy_(
            torch.tensor([[2., 0.], [0., -3.], [1., 1.]]))
    x = torch.tensor([[3., 4.], [0., 2.]])
    e = head.embed(x)
    torch.testing.assert_close(e, torch.tensor([[0.6, 0.8], [0., 1.]]))
    s = 2**-0.5
    expected = torch.tensor([[0.6, -0.8, 1.4 * s], [0., -1., s]])
    torch.testing.assert_close(head(x), expected)
    # scaling a prototype does not change anything (weight norm, g = 1)
    with torch.no_grad():
        head.prototypes.weight[0] *= 10
    torch.testing.assert_close(head(x), expected)


def test_learnable_gain_when_last_layer_not_normalised():
    head = PrototypeHead(
        in_channels=2, hid_channels=4, bottleneck_channels=2,
        num_prototypes=3, num_layers=1, norm_last_layer=False)
    assert head.gain.shape == (3, ) and head.gain.requires_grad
    x = torch.randn(5, 2)
    base = head(x)
    with torch.no_grad():
        head.gain.copy_(torch.tensor([1., 2., 3.]))
    torch.testing.assert_close(head(x), base * torch.tensor([1., 2., 3.]))
    head(x).sum().backward()
    assert head.gain.grad is not None


def test_prototype_gradient_is_orthogonal_to_the_prototype():
    """With g fixed, logits depend on the direction of V_k only, so the
    gradient of V_k is orthogonal to V_k (weight-norm property)."""
    torch.manual_seed(0)
    head = PrototypeHead(in_channels=8, hid_channels=16,
                         bottleneck_channels=4, num_prototypes=6)
    head(torch.randn(10, 8)).square().sum().backward()
    v, g = head.prototypes.weight, head.prototypes.weight.grad
    torch.testing.assert_close((v * g).sum(1), torch.zeros(6),
                               atol=1e-6, rtol=0)
    assert g.abs().sum() > 0


def test_deepcopy_and_ema_work():
    """The EMA target is a deep copy: it must embed identically."""
    torch.manual_seed(0)
    head = PrototypeHead(in_channels=8, hid_channels=16,
                         bottleneck_channels=4, num_prototypes=6)
    ema = ExponentialMovingAverage(head, momentum=0.5)
    twin = copy.deepcopy(head)
    x = torch.randn(3, 8)
    torch.testing.assert_close(ema.module(x), head(x))
    torch.testing.assert_close(twin(x), head(x))
    ema.update_parameters(head)  # the first update copies
    start = head.prototypes.weight.detach().clone()
    with torch.no_grad():
        head.prototypes.weight.add_(1.)
    ema.update_parameters(head)  # averaged = 0.5 averaged + 0.5 online
    torch.testing.assert_close(ema.module.prototypes.weight, start + 0.5)


def test_default_init_is_dino_trunc_normal():
    torch.manual_seed(0)
    head = PrototypeHead(in_channels=64, hid_channels=128,
                         bottleneck_channels=32, num_prototypes=256)
    head.init_weights()
    w = head.mlp[0].weight
    assert w.abs().max() <= 2.0 + 1e-6  # truncated at [-2, 2]
    assert 0.015 < w.std().item() < 0.025
    assert torch.equal(head.mlp[0].bias, torch.zeros(128))


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match='num_layers'):
        PrototypeHead(num_layers=0)
    with pytest.raises(ValueError, match='num_prototypes'):
        PrototypeHead(num_prototypes=0)
    head = PrototypeHead(in_channels=8, hid_channels=16,
                         bottleneck_channels=4, num_prototypes=6)
    with pytest.raises(ValueError, match='fc_out_channels'):
        head(torch.randn(3, 7))
