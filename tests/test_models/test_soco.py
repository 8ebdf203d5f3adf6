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
from mmalfm.engine.hooks.non_finite import non_finite_names
from mmalfm.models import RegionSelfSupervisor, SoCo
from mmalfm.models.utils.health import HEALTH_INFO_KEY
from mmalfm.registry import MODELS, TRANSFORMS

REPO = Path(__file__).resolve().parents[2]
BN = dict(type='BN')
BN1D = dict(type='BN1d')


def tiny_cfg(head=None, **overrides) -> dict:
    """SoCo with ResNet-18 at 1/8 width, FPN 16, head 16 -> 32; ``head``
    updates the region head's config."""
    mlp = dict(
        type='NonLinearNeck',
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_last_bias=True,
        with_avg_pool=False,
        norm_cfg=BN1D)
    trunk = tiny_trunk_cfg(zero_init_residual=True)
    region = dict(
        type='SoCoRegionHead',
        embedding=dict(
            type='RoIEmbedding',
            roi_pool=trunk.pop('roi_pool'),
            projector=dict(
                mlp, in_channels=32, hid_channels=64, out_channels=16),
            predictor=dict(
                mlp, in_channels=16, hid_channels=64, out_channels=16)),
        loss=dict(type='CorrespondenceBYOLLoss'),
        level_thresholds=(7, 14, 28, 32))  # 224-px recipe scaled to 32 px
    region.update(head or {})
    cfg = dict(
        type='SoCo',
        **trunk,
        heads=dict(region=region),
        target_ema=dict(type='CosineEMA', momentum=0.01, end_momentum=0.))
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


def build(head=None, **overrides) -> SoCo:
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(head, **overrides))
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


def last_health():
    """The ``StepHealth`` the last step published."""
    return MessageHub.get_current_instance().get_info(HEALTH_INFO_KEY)


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
                   'roi_head.bbox_head.shared_fcs.',
                   'heads.region.embedding.projector.',
                   'heads.region.embedding.predictor.'):
        grads = [
            p.grad for n, p in model.named_parameters()
            if n.startswith(prefix)
        ]
        assert grads and any(g is not None and g.abs().sum() > 0
                             for g in grads), prefix
    # health protocol: online embeddings of the assigned slots + pairs
    health = last_health()
    assert health.embeddings.shape == (2 * 4, 16)
    assert not health.embeddings.requires_grad
    # pair (V1, V2): 16 slots (4 boxes x 4 levels) a side
    assert health.possible_pairs.tolist() == [16 * 16, 16 * 16]
    assert health.pos_pairs.shape == (2, )
    assert health.pos_pairs.min() >= 1


def test_first_update_copies_the_online_network(batch, hub):
    """The first EMA update (before the first target forward) copies the
    online weights: then online and target embed identically (without the
    predictor)."""
    model = build()
    _loss(model, batch)
    online = dict(model.backbone.named_parameters())
    for name, p in model.target.backbone.named_parameters():
        assert torch.equal(p, online[name]), name
    emb = model.heads.region.embedding
    emb.predictor = None
    x = model.data_preprocessor(copy.deepcopy(batch), True)['inputs'][0]
    boxes = torch.tensor([[[2., 2., 20., 24.], [0., 0., 32., 32.]]] * 2)
    with torch.no_grad():
        q = emb(emb.pool(model.encode(x), boxes), model.roi_head)[-1]
        z = emb(emb.pool(model.encode(x, target=True), boxes),
                model.target.roi_head,
                target=model.target.heads.region.embedding)[-1]
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
    fast = build(dict(assigned_level_only=True))
    _loss(faithful, batch)
    pos_faithful = last_health().pos_pairs
    losses = _loss(fast, batch)
    pos_fast = last_health().pos_pairs
    assert last_health().possible_pairs.tolist() == [4 * 4, 4 * 4]
    assert torch.equal(pos_fast, pos_faithful)
    assert all(torch.isfinite(v) for v in losses.values())


def test_soco_star_four_views(hub):
    batch = make_batch(sizes=(32, 32, 24, 16), pairs=((0, 1), (0, 2), (0, 3)))
    model = build()  # the pairs are the sampler's
    losses = _loss(model, batch)
    assert set(losses) == {
        'loss_1to2', 'loss_2to1', 'loss_1to3', 'loss_3to1', 'loss_1to4',
        'loss_4to1'
    }


def test_retired_view_pairs_key_names_the_pipeline(hub):
    with pytest.raises(ValueError) as err:
        build(view_pairs=((0, 1), (0, 2)))
    msg = str(err.value)
    assert 'model.view_pairs was removed from SoCo' in msg
    assert 'SoCoRegionSampler(pairs=...)' in msg
    with pytest.raises(TypeError, match=r"\['not_a_key'\]"):
        build(not_a_key=1)


def test_batch_without_region_pairs_names_the_sampler(batch, hub):
    model = build()
    bare = copy.deepcopy(batch)
    for ds in bare['data_samples']:
        ds.set_metainfo(dict(regions=None))
    with pytest.raises(ValueError) as err:
        _loss(model, bare)
    msg = str(err.value)
    assert 'SoCo needs region pairs but the batch has 0' in msg
    assert '3 views' in msg and 'SoCoRegionSampler' in msg


def test_non_finite_view_poisons_only_its_terms(batch, hub):
    """A NaN third view makes exactly its pair's terms non-finite, which
    NonFiniteCheckHook then names (tests/test_engine/test_non_finite.py)."""
    model = build()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    data['inputs'][2] = torch.full_like(data['inputs'][2], float('nan'))
    losses = model(**data, mode='loss')
    assert non_finite_names(list(losses.items())) == ['loss_1to3', 'loss_3to1']


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
    assert rest == {'heads', 'target_net'}
    assert {'.'.join(k.split('.')[:4]) for k in ours
            if k.startswith('heads.')} == {
                'heads.region.embedding.projector',
                'heads.region.embedding.predictor'}


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
        head=dict(
            embedding=dict(
                type='RoIEmbedding',
                roi_pool=dict(output_size=14, featmap_strides=(16, )),
                projector=dict(
                    type='NonLinearNeck',
                    in_channels=512,
                    hid_channels=64,
                    out_channels=16,
                    with_bias=True,
                    with_last_bn=False,
                    with_last_bias=True,
                    with_avg_pool=False,
                    norm_cfg=BN1D)),
            scale_aware=False),
        neck=None,
        roi_head=dict(
            type='RegionRoIHead',
            shared_head=dict(
                type='mmdet.ResLayer',
                depth=18,
                stage=3,
                norm_cfg=BN,
                norm_eval=False),
            zero_init_residual=True))
    assert any(k.startswith('roi_head.shared_head.layer4.')
               for k in model.state_dict())
    losses = _loss(model, batch)
    assert set(losses) == {'loss_1to2', 'loss_2to1'}
    assert last_health().possible_pairs.tolist() == [16, 16]


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


# ------------------------------------------- per-level BN statistics (exact)
def _per_level_embed_set(model: SoCo):
    """The released ``SoCo_FPN.forward`` for one box set: RoIAlign at one
    level, then head -> projector [-> predictor], once per level, levels
    concatenated (level-major slots). Uses the model's own modules."""
    from mmalfm.models.utils import scale_aware_slot_ids
    from mmalfm.structures import to_soco_normalized

    head = model.heads.region
    emb = head.embedding

    def embed_set(rb, inputs):
        batch = inputs.batch
        geom = batch.geometry[:, rb.view]
        levels = head._levels(rb, geom)
        size = geom.out_size.to(rb.boxes)[:, None, [0, 1, 0, 1]]
        boxes = to_soco_normalized(rb.boxes, geom) * size
        shape = batch.view_shapes[rb.view]

        def run(feats, roi_head, target):
            return torch.cat([
                emb(emb.pool(feats, boxes, torch.full_like(rb.ids, lv),
                             shape), roi_head, target=target)[-1]
                for lv in range(head.num_levels)
            ], 1)

        q = run(inputs.online[rb.view], inputs.roi_head, None)
        with torch.no_grad():
            z = run(inputs.target[rb.view], inputs.target_roi_head,
                    inputs.target_parts.embedding)
        slots = scale_aware_slot_ids(rb.ids, levels, head.num_levels, -1)
        return q, z, slots

    return embed_set


def _rel(a, b) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


def _bn_buffers(model) -> dict:
    return {k: v for k, v in model.state_dict().items()
            if 'running_' in k or 'num_batches_tracked' in k}


def _compare_with_per_level_loop(model: SoCo, batch, hub):
    """Loss, every gradient and every BN buffer of ``model`` vs. the
    per-level loop on a copy: the largest relative difference, and whether
    every ``num_batches_tracked`` agrees."""
    ref = copy.deepcopy(model)
    ref.heads.region._embed_set = _per_level_embed_set(ref)
    losses = _loss(model, batch)
    ref_losses = _loss(ref, batch)
    sum(losses.values()).backward()
    sum(ref_losses.values()).backward()
    worst = max(_rel(losses[k], ref_losses[k]) for k in ref_losses)
    ref_params = dict(ref.named_parameters())
    # relative to the gradient's norm, floored at 1e-3 of the largest one:
    # biases in front of a BN layer have a zero gradient (round-off only)
    scale = 1e-3 * max(p.grad.norm() for p in ref_params.values()
                       if p.grad is not None)
    for name, p in model.named_parameters():
        if p.grad is None:
            assert ref_params[name].grad is None, name
            continue
        want = ref_params[name].grad
        worst = max(worst, float((p.grad - want).norm() /
                                 max(want.norm(), scale)))
    ref_buffers = _bn_buffers(ref)
    counters = True
    for name, buf in _bn_buffers(model).items():
        if 'num_batches_tracked' in name:
            counters &= buf.item() == ref_buffers[name].item()
        else:
            worst = max(worst, _rel(buf, ref_buffers[name]))
    return worst, counters


def _config_model(path: str) -> SoCo:
    cfg = Config.fromfile(str(REPO / path)).model
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmalfm'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('path, sizes', [
    ('configs/soco/soco_resnet50-fpn_8xb128-coslr-400e_in1k.py', (64, 64, 32)),
    ('configs/soco/soco_resnet18-fpn_1xb8-coslr-10e_demo.py', (64, 64, 32)),
])
def test_level_bn_groups_equal_the_released_per_level_loop(path, sizes, hub):
    """bn_groups='level' (the configs' default) in one batched call per set
    == one head/projector/predictor call per level and set: loss, the
    gradient of every parameter and every BN running statistic (online and
    target) to 1e-5 relative; one call over all levels ('set') is not."""
    batch = make_batch(sizes=sizes)
    model = _config_model(path)
    assert model.heads.region.bn_groups == 'level'
    worst, counters = _compare_with_per_level_loop(model, batch, hub)
    assert worst < 1e-5 and counters
    # the head's BN layers see 4 levels per set: 4 updates per set call
    tracked = model.roi_head.bbox_head.shared_convs[0].bn.num_batches_tracked
    assert tracked.item() == 4 * 4  # 4 sets (V1x2, V2, V3) x 4 levels
    mixed = _config_model(path)
    mixed.heads.region.bn_groups = 'set'
    worst, counters = _compare_with_per_level_loop(mixed, batch, hub)
    assert worst > 1e-3 and not counters


def test_bn_groups_keys(hub):
    assert build().heads.region.bn_groups == 'level'
    assert build(dict(
        assigned_level_only=True)).heads.region.bn_groups == 'set'
    with pytest.raises(ValueError, match="assigned_level_only=True set "
                       "bn_groups='set'"):
        build(dict(assigned_level_only=True, bn_groups='level'))
    with pytest.raises(ValueError, match="'level' or 'set'"):
        build(dict(bn_groups='levels'))
