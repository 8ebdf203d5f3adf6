# Copyright (c) mmalfm contributors. All rights reserved.
"""SoCo and the shared RegionSelfSupervisor on a tiny model (CPU)."""
import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (assert_trunk_keys_match_mmdet, state_shapes,
                      tiny_trunk_cfg)
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.models import RegionSelfSupervisor, SoCo
from mmalfm.registry import MODELS, TRANSFORMS

REPO = Path(__file__).resolve().parents[2]
BN = dict(type='BN')
BN1D = dict(type='BN1d')


def tiny_cfg(**overrides) -> dict:
    """SoCo with ResNet-18 at 1/8 width, FPN 16, head 16 -> 32."""
    mlp = dict(
        type='NonLinearNeck',
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_last_bias=True,
        with_avg_pool=False,
        norm_cfg=BN1D)
    cfg = dict(
        type='SoCo',
        **tiny_trunk_cfg(zero_init_residual=True),
        projector=dict(mlp, in_channels=32, hid_channels=64, out_channels=16),
        predictor=dict(mlp, in_channels=16, hid_channels=64, out_channels=16),
        loss=dict(type='CorrespondenceBYOLLoss'),
        target_ema=dict(type='CosineEMA', momentum=0.01, end_momentum=0.),
        view_pairs=((0, 1), (0, 2)),
        level_thresholds=(7, 14, 28, 32))  # 224-px recipe scaled to 32 px
    cfg.update(overrides)
    return cfg


def make_batch(num_images=2, seed=0, sizes=(32, 32, 16),
               pairs=((0, 1), (0, 2))):
    """A collated batch through the real SoCo data pipeline."""
    views = [dict(kind='whole', size=sizes[0])] + [
        dict(kind='resized_crop', size=s, scale=(0.5, 1.)) for s in sizes[1:]
    ]
    pipeline = [
        TRANSFORMS.build(
            dict(
                type='MultiViewCrop',
                views=views,
                region_sampler=dict(type='SoCoRegionSampler', pairs=pairs))),
        TRANSFORMS.build(dict(type='PackMultiViewInputs')),
    ]
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    items = []
    for i in range(num_images):
        xy = rng.uniform(0, 40, (12, 2))
        wh = rng.uniform(8, 40, (12, 2))
        result = dict(
            img=rng.integers(0, 255, (60, 80, 3), dtype=np.uint8),
            img_path=f'img{i}.jpg',
            proposals=np.concatenate([xy, xy + wh], 1).astype(np.float32))
        for t in pipeline:
            result = t(result)
        items.append(result)
    return default_collate(items)


def build(**overrides) -> SoCo:
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(**overrides))
    model.init_weights()
    return model


@pytest.fixture
def hub():
    """A message hub with a 10-iteration schedule, restored afterwards."""
    hub = MessageHub.get_current_instance()
    old = {k: hub.get_info(k) for k in ('iter', 'max_iters')}
    hub.update_info('max_iters', 10)
    hub.update_info('iter', 0)
    yield hub
    for k, v in old.items():
        hub.update_info(k, v)


@pytest.fixture(scope='module')
def batch():
    return make_batch()


def _loss(model, batch):
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    return model(**data, mode='loss')


def test_loss_runs_and_grads_reach_online_params_only(batch, hub):
    model = build()
    assert isinstance(model, RegionSelfSupervisor)
    losses = _loss(model, batch)
    assert set(losses) == {'loss_1to2', 'loss_2to1', 'loss_1to3', 'loss_3to1'}
    for value in losses.values():
        assert value.dim() == 0 and torch.isfinite(value)
        assert -2 - 1e-4 <= value.item() <= 2 + 1e-4
    sum(losses.values()).backward()
    for name, p in model.target_net.named_parameters():
        assert not p.requires_grad and p.grad is None, name
    for prefix in ('backbone.', 'neck.', 'roi_head.bbox_head.shared_convs.',
                   'roi_head.bbox_head.shared_fcs.', 'projector.',
                   'predictor.'):
        grads = [
            p.grad for n, p in model.named_parameters()
            if n.startswith(prefix)
        ]
        assert grads and any(g is not None and g.abs().sum() > 0
                             for g in grads), prefix
    # health protocol: online embeddings of the assigned slots + pairs
    health = model.health_tensors()
    assert health['embeddings'].shape == (2 * 4, 16)
    assert health['pos_pairs'].dtype == torch.bool
    assert health['pos_pairs'].shape == (2, 16, 16)
    assert health['pos_pairs'].sum(dim=(1, 2)).min() >= 1


def test_first_update_copies_the_online_network(batch, hub):
    """The first EMA update (before the first target forward) copies the
    online weights: then online and target embed identically (without the
    predictor)."""
    model = build()
    _loss(model, batch)
    online = dict(model.backbone.named_parameters())
    for name, p in model.target.backbone.named_parameters():
        assert torch.equal(p, online[name]), name
    model.predictor = None
    x = model.data_preprocessor(copy.deepcopy(batch), True)['inputs'][0]
    boxes = torch.tensor([[[2., 2., 20., 24.], [0., 0., 32., 32.]]] * 2)
    with torch.no_grad():
        q = model.embed_rois(model.pool_regions(model.encode(x), boxes))
        z = model.embed_rois(
            model.pool_regions(model.encode(x, target=True), boxes),
            target=True)
    assert q.shape == (2, 4 * 2, 16)
    torch.testing.assert_close(q, z)


def test_ema_keep_rate_follows_the_cosine_schedule(batch, hub):
    """After update k, target = tau_k target + (1 - tau_k) online with
    tau_k = 1 - (1 - 0.99)(cos(pi k / K) + 1) / 2, K = MessageHub
    max_iters (as CosineEMA reads it); one update per iteration."""
    model = build()
    max_iters = hub.get_info('max_iters')
    p_online = model.backbone.conv1.weight
    p_target = model.target.backbone.conv1.weight
    for k in range(4):
        hub.update_info('iter', k)
        with torch.no_grad():  # the optimizer would move the online net
            p_online.add_(torch.randn_like(p_online))
        before = p_target.detach().clone()
        _loss(model, batch)
        if k == 0:
            assert torch.equal(p_target, p_online)  # first update copies
            continue
        tau = 1 - (1 - 0.99) * (math.cos(math.pi * k / max_iters) + 1) / 2
        expected = tau * before + (1 - tau) * p_online
        torch.testing.assert_close(p_target, expected)
        # a second forward in the same iteration does not update again
        snapshot = p_target.detach().clone()
        _loss(model, batch)
        assert torch.equal(p_target, snapshot)
    assert int(model.target_net.steps) == 4


def test_assigned_level_only_has_the_same_positive_pairs(batch, hub):
    faithful = build()
    fast = build(assigned_level_only=True)
    _loss(faithful, batch)
    pos_faithful = faithful.health_tensors()['pos_pairs']
    losses = _loss(fast, batch)
    pos_fast = fast.health_tensors()['pos_pairs']
    assert pos_fast.shape == (2, 4, 4)
    assert torch.equal(pos_fast.sum(dim=(1, 2)), pos_faithful.sum(dim=(1, 2)))
    assert all(torch.isfinite(v) for v in losses.values())


def test_soco_star_four_views(hub):
    batch = make_batch(sizes=(32, 32, 24, 16), pairs=((0, 1), (0, 2), (0, 3)))
    model = build(view_pairs=((0, 1), (0, 2), (0, 3)))
    losses = _loss(model, batch)
    assert set(losses) == {
        'loss_1to2', 'loss_2to1', 'loss_1to3', 'loss_3to1', 'loss_1to4',
        'loss_4to1'
    }


def test_view_pairs_mismatch_names_both_sides(batch, hub):
    model = build(view_pairs=((0, 1), (0, 2), (0, 3)))
    with pytest.raises(ValueError) as err:
        _loss(model, batch)
    msg = str(err.value)
    assert 'view_pairs=[(0, 1), (0, 2), (0, 3)]' in msg
    assert '3 views' in msg and '[(0, 1), (0, 2)]' in msg
    assert 'SoCoRegionSampler' in msg


def test_non_finite_loss_names_iteration_and_term(batch, hub):
    model = build()
    hub.update_info('iter', 7)
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    data['inputs'][2] = torch.full_like(data['inputs'][2], float('nan'))
    with pytest.raises(FloatingPointError, match='iteration 7') as err:
        model(**data, mode='loss')
    assert 'loss_1to3' in str(err.value) and 'loss_1to2' not in str(err.value)


def test_builds_in_a_foreign_scope():
    """``type='mmalfm.SoCo'`` from an MMDetection config builds fully."""
    from mmdet.registry import MODELS as MMDET_MODELS
    cfg = tiny_cfg(type='mmalfm.SoCo')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MMDET_MODELS.build(cfg)
    assert type(model) is SoCo
    assert type(model.roi_head.bbox_head).__name__ == 'ConvFCRoIFeatureHead'


def test_r50_keys_equal_mmdet_mask_rcnn():
    """backbone/neck/box-head keys and shapes = mmdet Mask R-CNN R50-FPN
    with a Shared4Conv1FCBBoxHead (SoCo's downstream protocol)."""
    ours = assert_trunk_keys_match_mmdet(
        'configs/_base_/models/soco_resnet50-fpn.py')
    # the rest of ours is the EMA target and the MLPs
    rest = {k.split('.')[0] for k in ours} - {'backbone', 'neck', 'roi_head'}
    assert rest == {'projector', 'predictor', 'target_net'}


def test_c4_variant(hub):
    """RoIAlign 14x14 on C4 -> res5 (mmdet ResLayer) -> avgpool; one pair,
    plain id correspondence."""
    batch = make_batch(sizes=(32, 32), pairs=((0, 1), ))
    model = build(
        backbone=dict(
            type='mmdet.ResNet',
            depth=18,
            num_stages=3,
            strides=(1, 2, 2),
            dilations=(1, 1, 1),
            out_indices=(2, ),
            norm_cfg=BN,
            norm_eval=False),
        neck=None,
        roi_pool=dict(output_size=14, featmap_strides=(16, )),
        roi_head=dict(
            type='RegionRoIHead',
            shared_head=dict(
                type='mmdet.ResLayer',
                depth=18,
                stage=3,
                norm_cfg=BN,
                norm_eval=False),
            zero_init_residual=True),
        projector=dict(
            type='NonLinearNeck',
            in_channels=512,
            hid_channels=64,
            out_channels=16,
            with_bias=True,
            with_last_bn=False,
            with_last_bias=True,
            with_avg_pool=False,
            norm_cfg=BN1D),
        view_pairs=((0, 1), ),
        scale_aware=False)
    assert any(k.startswith('roi_head.shared_head.layer4.')
               for k in model.state_dict())
    losses = _loss(model, batch)
    assert set(losses) == {'loss_1to2', 'loss_2to1'}
    assert model.health_tensors()['pos_pairs'].shape == (2, 4, 4)


def test_r50_c4_keys_equal_mmdet_c4_mask_rcnn():
    """C4: backbone (3 stages) and res5 keys/shapes = mmdet's C4 Mask R-CNN
    (`roi_head.shared_head.layer4.*`)."""
    import mmdet
    import mmdet.models  # noqa: F401
    from mmdet.registry import MODELS as MMDET_MODELS
    cfg = Config.fromfile(
        str(REPO / 'configs/soco/soco_resnet50-c4_8xb128-coslr-100e_in1k.py'))
    with DefaultScope.overwrite_default_scope('mmalfm'):
        ours = MODELS.build(cfg.model).state_dict()
    det_cfg = Config.fromfile(
        str(Path(mmdet.__file__).parent / '.mim' / 'configs' / 'mask_rcnn' /
            'mask-rcnn_r50-caffe-c4_1x_coco.py'))
    det_cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdet'):
        theirs = MMDET_MODELS.build(det_cfg.model).state_dict()
    assert state_shapes(ours, 'backbone.') == state_shapes(theirs, 'backbone.')
    res5 = ('roi_head.shared_head.', )
    assert state_shapes(ours, res5) == state_shapes(theirs, res5)
    assert any(k.startswith('roi_head.shared_head.layer4.2.') for k in ours)
