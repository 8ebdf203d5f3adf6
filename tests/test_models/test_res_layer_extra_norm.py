# Copyright (c) mmalfm contributors. All rights reserved.
"""ResLayerExtraNorm: mmdet's res5 shared head + detectron2's extra norm."""
import torch
from mmdet.models.roi_heads.shared_heads import ResLayer
from mmengine.registry import DefaultScope

from mmalfm.models.heads import ResLayerExtraNorm

BN = dict(type='BN', requires_grad=True)


def test_keys_are_mmdet_res_layer_plus_the_norm():
    ours = ResLayerExtraNorm(depth=50, stage=3, norm_cfg=BN, norm_eval=False)
    stock = ResLayer(depth=50, stage=3, norm_cfg=BN, norm_eval=False)
    ours_keys, stock_keys = set(ours.state_dict()), set(stock.state_dict())
    assert stock_keys < ours_keys
    assert ours_keys - stock_keys == {
        'layer4.norm.weight', 'layer4.norm.bias', 'layer4.norm.running_mean',
        'layer4.norm.running_var', 'layer4.norm.num_batches_tracked'
    }
    # mmdet's weights load unchanged (an export's shared_head.layer4.*)
    missing, unexpected = ours.load_state_dict(stock.state_dict(),
                                               strict=False)
    assert unexpected == [] and all('layer4.norm.' in k for k in missing)


def test_forward_applies_the_norm_last():
    torch.manual_seed(0)
    head = ResLayerExtraNorm(depth=18, stage=3, norm_cfg=BN, norm_eval=False)
    head.init_weights()
    assert torch.equal(head.layer4.norm.weight, torch.ones(512))
    assert torch.equal(head.layer4.norm.bias, torch.zeros(512))
    head.layer4.norm.bias.data.fill_(3.)
    head.eval()
    x = torch.randn(2, 256, 14, 14)
    out = head(x)
    assert out.shape == (2, 512, 7, 7)
    # eval BN with fresh statistics (mean 0, var 1) is x / sqrt(1 + eps) + b
    blocks = torch.nn.Sequential(*list(head.layer4.children())[:-1])
    expected = blocks(x) / (1 + head.layer4.norm.eps)**0.5 + 3.
    assert torch.allclose(out, expected, atol=1e-6)


def test_r50_shape_and_extra_norm_cfg():
    head = ResLayerExtraNorm(
        depth=50,
        stage=3,
        norm_cfg=BN,
        extra_norm_cfg=dict(type='GN', num_groups=32))
    assert isinstance(head.layer4.norm, torch.nn.GroupNorm)
    assert head(torch.randn(1, 1024, 8, 8)).shape == (1, 2048, 4, 4)


def test_built_from_an_mmdet_config():
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(
            dict(type='mmalfm.ResLayerExtraNorm', depth=50, norm_cfg=BN))
    assert isinstance(head, ResLayerExtraNorm)
