# Copyright (c) mmalfm contributors. All rights reserved.
"""ALFM on a tiny model (CPU): losses, gradients, teacher, regions, errors."""
import copy

import numpy as np
import pytest
import torch
from conftest import assert_trunk_keys_match_mmdet, tiny_trunk_cfg
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.models import ALFM
from mmalfm.models.algorithms.alfm import match_ids
from mmalfm.models.utils.health import HEALTH_INFO_KEY
from mmalfm.registry import MODELS, TRANSFORMS
from mmalfm.structures import RegionBatch

K = 32


def tiny_cfg(gmsr=None, cdlp=None, **overrides) -> dict:
    """ALFM with ResNet-18 at 1/8 width, FPN 16, head 16 -> 32, K = 32;
    ``gmsr`` / ``cdlp`` update those heads' configs (``cdlp='off'``: no
    CDLP head)."""
    trunk = tiny_trunk_cfg()
    heads = dict(
        gmsr=dict(
            type='GMSRHead',
            projector=dict(
                type='NonLinearNeck',
                in_channels=64,
                hid_channels=64,
                out_channels=16,
                num_layers=2,
                with_bias=True,
                with_last_bn=False,
                with_last_bias=True,
                with_avg_pool=True,
                norm_cfg=dict(type='BN1d')),
            loss=dict(type='CodingRateLoss'),
            **(gmsr or {})),
        cdlp=dict(
            type='CDLPHead',
            embedding=dict(
                type='RoIEmbedding',
                roi_pool=trunk.pop('roi_pool'),
                projector=dict(
                    type='PrototypeHead',
                    in_channels=32,
                    hid_channels=64,
                    bottleneck_channels=16,
                    num_prototypes=K)),
            loss=dict(type='SoftLabelDistillationLoss', out_dim=K),
            level_thresholds=(7, 14, 28, 32)))  # 224-px recipe at 32 px
    if cdlp == 'off':
        heads['cdlp'] = None
    else:
        heads['cdlp'].update(cdlp or {})
    cfg = dict(type='ALFM', **trunk, heads=heads)
    cfg.update(overrides)
    return cfg


def make_batch(num_images=2, seed=0, num_local=4, proposals=True):
    """A collated batch through the real ALFM data pipeline (32/16 px)."""
    pipeline = [
        TRANSFORMS.build(
            dict(
                type='MultiViewCrop',
                views=[
                    dict(kind='resized_crop', size=32, scale=(0.3, 1.),
                         num=2),
                    dict(kind='region_crop', size=16, num=num_local)
                ],
                region_sampler=dict(
                    type='ALFMRegionSampler', num_regions=num_local))),
        TRANSFORMS.build(dict(type='PackMultiViewInputs')),
    ]
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    items = []
    for i in range(num_images):
        xy = rng.uniform(0, 40, (12, 2))
        wh = rng.uniform(8, 40, (12, 2))
        props = np.concatenate([xy, xy + wh], 1).astype(np.float32)
        result = dict(
            img=rng.integers(0, 255, (60, 80, 3), dtype=np.uint8),
            img_path=f'img{i}.jpg',
            proposals=props if proposals else np.zeros((0, 4), np.float32))
        for t in pipeline:
            result = t(result)
        items.append(result)
    return default_collate(items)


def build(gmsr=None, cdlp=None, **overrides) -> ALFM:
    torch.manual_seed(0)
    return MODELS.build(tiny_cfg(gmsr, cdlp, **overrides))


@pytest.fixture
def hub():
    """A message hub with a 10-iteration schedule, restored afterwards."""
    hub = MessageHub.get_current_instance()
    old = {k: hub.get_info(k) for k in ('iter', 'max_iters', 'max_epochs')}
    hub.update_info('max_iters', 10)
    hub.update_info('max_epochs', 1)
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


def _total(losses):
    return sum(v for k, v in losses.items() if k.startswith('loss'))


def test_match_ids_takes_the_first_teacher_row():
    ids_t = torch.tensor([[3, 5, 3, -1], [0, 1, 2, 3]])
    ids_s = torch.tensor([[3, -1, 7, 5], [-1, 2, 2, 0]])
    index, valid = match_ids(ids_t, ids_s)
    assert valid.tolist() == [[True, False, False, True],
                              [False, True, True, True]]
    assert index[valid].tolist() == [0, 1, 2, 2, 0]


def test_loss_terms_and_gradients_reach_the_student_only(batch, hub):
    model = build()
    losses = _loss(model, batch)
    assert set(losses) == {
        'loss_gmsr_align', 'loss_gmsr_entropy', 'loss_cdlp_local',
        'loss_cdlp_cross', 'alfm_random_boxes', 'alfm_no_overlap'
    }
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), key
    assert 0 <= losses['loss_gmsr_align'].item() <= 4
    assert losses['loss_gmsr_entropy'].item() < 0
    # cross-entropies over K prototypes of near-uniform students: ~log K
    for key in ('loss_cdlp_local', 'loss_cdlp_cross'):
        assert 0 < losses[key].item() < 2 * np.log(K)
    _total(losses).backward()
    for name, p in model.target_net.named_parameters():
        assert not p.requires_grad and p.grad is None, name
    for prefix in ('backbone.', 'neck.', 'roi_head.bbox_head.shared_convs.',
                   'roi_head.bbox_head.shared_fcs.', 'heads.gmsr.projector.',
                   'heads.cdlp.embedding.projector.mlp.',
                   'heads.cdlp.embedding.projector.prototypes.'):
        grads = [
            p.grad for n, p in model.named_parameters()
            if n.startswith(prefix)
        ]
        assert grads and any(g is not None and g.abs().sum() > 0
                             for g in grads), prefix
    # The teacher holds no projector (GMSR is siamese).
    assert set(model.target) == {'backbone', 'neck', 'roi_head', 'heads'}
    assert set(model.target.heads) == {'cdlp'}
    assert set(model.target.heads.cdlp.embedding) == {'projector'}
    health = hub.get_info(HEALTH_INFO_KEY)
    assert health.branches['gmsr'].shape == (2, 16)
    assert health.branches['cdlp'].shape == (2 * 4, 16)
    assert not health.branches['cdlp'].requires_grad
    assert health.pos_pairs.tolist() == [4, 4]
    assert health.possible_pairs.tolist() == [4, 4]


def test_teacher_is_the_ema_and_the_centre_moves(batch, hub):
    """First update copies the student; the teacher is not changed by the
    optimizer, only by the EMA; the CDLP centre moves."""
    model = build()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = _loss(model, batch)
    for name, p in model.target.backbone.named_parameters():
        assert torch.equal(p, dict(model.backbone.named_parameters())[name])
    assert model.heads.cdlp.loss_module.center.abs().sum() > 0
    teacher = {k: v.clone() for k, v in model.target_net.state_dict().items()}
    _total(losses).backward()
    optimizer.step()
    for k, v in model.target_net.state_dict().items():
        assert torch.equal(v, teacher[k]), k
    assert not torch.equal(model.backbone.conv1.weight,
                           model.target.backbone.conv1.weight)


def test_centre_equals_the_hand_computed_mean(batch, hub):
    model = build()
    captured = []
    update = model.heads.cdlp.loss_module.update_center

    def spy(logits):
        captured.append(logits.clone())
        update(logits)

    model.heads.cdlp.loss_module.update_center = spy
    _loss(model, batch)
    assert len(captured) == 1  # once per step
    # 2 teacher (global) sets x 2 images x 4 regions
    assert captured[0].shape == (16, K)
    torch.testing.assert_close(model.heads.cdlp.loss_module.center,
                               0.1 * captured[0].mean(0, keepdim=True))


def test_no_overlap_images_contribute_to_gmsr_only(hub):
    """An image whose sampler found no overlap has empty region sets: its
    pixels get no gradient from the CDLP terms (BN in eval mode so that the
    images do not interact through batch statistics)."""
    batch = make_batch()
    regions = batch['data_samples'][1].metainfo['regions']
    regions['ids'] = [np.zeros(0, np.int64) for _ in regions['ids']]
    regions['boxes'] = [np.zeros((0, 4), np.float32) for _ in regions['ids']]
    regions['info'].update(no_overlap=True, num_random=0, fallback=False)
    batch['data_samples'][1].set_metainfo(dict(regions=regions))
    model = build()
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    views = [v.clone().requires_grad_(True) for v in data['inputs']]
    losses = model(views, data['data_samples'], mode='loss')
    assert losses['alfm_no_overlap'].item() == 1
    assert hub.get_info(HEALTH_INFO_KEY).pos_pairs.tolist() == [4, 0]
    (losses['loss_cdlp_local'] + losses['loss_cdlp_cross']).backward(
        retain_graph=True)
    for v in views:
        assert v.grad[1].abs().sum() == 0
    assert sum(v.grad[0].abs().sum() for v in views) > 0
    for v in views:
        v.grad = None
    losses['loss_gmsr_align'].backward()
    assert views[0].grad[1].abs().sum() > 0


def test_random_boxes_are_counted(hub):
    model = build()
    no_props = make_batch(num_images=3, proposals=False)
    losses = _loss(model, no_props)
    assert losses['alfm_random_boxes'].item() == 3 * 4
    infos = [ds.metainfo['regions']['info']
             for ds in no_props['data_samples']]
    assert all(i['fallback'] and i['num_random'] == 4 for i in infos)
    with_props = make_batch(num_images=3)
    expected = sum(ds.metainfo['regions']['info']['num_random']
                   for ds in with_props['data_samples'])
    assert _loss(model, with_props)['alfm_random_boxes'].item() == expected


def test_view_mismatch_names_both_sides(hub):
    # view 2 is a local patch of the batch, not a context view
    model = build(gmsr=dict(global_views=(0, 2)))
    with pytest.raises(ValueError) as err:
        _loss(model, make_batch())
    msg = str(err.value)
    assert 'GMSRHead: global_views=(0, 2)' in msg
    assert 'has 6 views, local patches at views [2, 3, 4, 5]' in msg
    assert 'region_crop' in msg
    # no region sampler: CDLP has no pairs
    bare = make_batch()
    for ds in bare['data_samples']:
        ds.set_metainfo(dict(regions=None))
    with pytest.raises(ValueError, match='ALFM .CDLP/redundancy. needs '
                       'region pairs.*ALFMRegionSampler'):
        _loss(build(), bare)


def test_configuration_errors():
    with pytest.raises(ValueError, match='out_dim'):
        build(cdlp=dict(
            loss=dict(type='SoftLabelDistillationLoss', out_dim=7)))
    with pytest.raises(ValueError, match='set both embedding.projector'):
        build(cdlp=dict(loss=None))
    with pytest.raises(ValueError, match='neither CDLP nor redundancy'):
        build(cdlp=dict(loss=None, embedding=dict(
            type='RoIEmbedding', roi_pool=dict(output_size=7))))
    with pytest.raises(ValueError, match='global_views'):
        build(gmsr=dict(global_views=(1, 1)))
    with pytest.raises(ValueError, match='heads.cdlp reads an EMA target'):
        build(target_ema=None)
    for key in ('num_views', 'num_local_views'):
        with pytest.raises(ValueError) as err:
            build(**{key: 4})
        assert f'model.{key} was removed from ALFM' in str(err.value)
        assert 'MultiViewCrop' in str(err.value)


def test_teacher_on_local_view_and_barlow_term(batch, hub):
    model = build(cdlp=dict(
        teacher_view='local',
        redundancy_loss=dict(type='CrossCorrelationLoss', lambd=5e-3)))
    region_batch = RegionBatch.build(
        model.data_preprocessor(copy.deepcopy(batch), True)['inputs'],
        batch['data_samples'])
    assert region_batch.local_views == [2, 3, 4, 5]
    assert model.target_views(region_batch) == [0, 1, 2, 3, 4, 5]
    assert build().target_views(region_batch) == [0, 1]
    losses = _loss(model, batch)
    assert {'loss_cdlp_local', 'loss_cdlp_cross',
            'loss_redundancy'} <= set(losses)
    assert losses['loss_redundancy'].item() > 0
    _total(losses).backward()


def test_gmsr_only_has_no_teacher_and_encodes_global_views(hub):
    model = build(cdlp='off')
    assert model.target_net is None
    batch = make_batch(num_local=1)
    losses = _loss(model, batch)
    assert {k for k in losses if k.startswith('loss')} == {
        'loss_gmsr_align', 'loss_gmsr_entropy'
    }
    inputs = model.data_preprocessor(copy.deepcopy(batch), True)['inputs']
    region_batch = RegionBatch.build(inputs, batch['data_samples'])
    assert region_batch.num_views == 3
    assert model.online_views(region_batch) == [0, 1]
    assert model.target_views(region_batch) == []


def test_builds_in_a_foreign_scope():
    """``type='mmalfm.ALFM'`` from an MMDetection config builds fully."""
    from mmdet.registry import MODELS as MMDET_MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MMDET_MODELS.build(tiny_cfg(type='mmalfm.ALFM'))
    assert type(model) is ALFM
    assert type(model.heads.cdlp.embedding.projector).__name__ == \
        'PrototypeHead'
    assert type(model.heads.gmsr.loss_module).__name__ == 'CodingRateLoss'


def test_r50_keys_equal_mmdet_mask_rcnn():
    """backbone/neck/box-head keys and shapes = mmdet Mask R-CNN R50-FPN
    with a Shared4Conv1FCBBoxHead (the exporter needs no ALFM code)."""
    ours = assert_trunk_keys_match_mmdet(
        'configs/_base_/models/alfm_resnet50-fpn.py')
    rest = {k.split('.')[0] for k in ours} - {'backbone', 'neck', 'roi_head'}
    assert rest == {'heads', 'target_net'}
    assert ours['heads.cdlp.embedding.projector.prototypes.weight'].shape \
        == (4096, 256)
    assert ours['heads.gmsr.projector.fc0.weight'].shape == (4096, 2048)
    assert not any(k.startswith('target_net.module.heads.gmsr')
                   for k in ours)


def test_bn_groups_set_equals_one_head_call_per_region_set(batch, hub):
    """bn_groups='set': the student's roi_head + cdlp_head outputs and BN
    running statistics equal one call of those heads per region set (in set
    order); 'batch' (the default) differs."""
    model = build(cdlp=dict(bn_groups='set'))
    head = model.heads.cdlp
    assert build().heads.cdlp.bn_groups == 'batch'
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    views = data['inputs']
    region_batch = RegionBatch.build(views, data['data_samples'])
    feats = model.encode_views(views, model.online_views(region_batch))
    sets = region_batch.pair_sets + region_batch.local_sets
    assert len(sets) >= 3
    ref = copy.deepcopy(model)
    grouped = head.embed_sets(feats, region_batch, sets, model.roi_head)
    for s in sets:  # the loop: one call of each head per set
        ref.heads.cdlp.bn_groups = 'batch'
        want = ref.heads.cdlp.embed_sets(feats, region_batch, [s],
                                         ref.roi_head)
        for got, exp in zip(grouped[s], want[s]):
            torch.testing.assert_close(got, exp, rtol=1e-5, atol=1e-6)
    for (name, b), rb in zip(model.state_dict().items(),
                             ref.state_dict().values()):
        if 'running_' in name:
            torch.testing.assert_close(b, rb, rtol=1e-5, atol=1e-7)
    mixed = copy.deepcopy(ref)
    both = mixed.heads.cdlp.embed_sets(feats, region_batch, sets,
                                       mixed.roi_head)
    assert not torch.allclose(both[sets[0]][0], grouped[sets[0]][0],
                              atol=1e-4)
    with pytest.raises(ValueError, match="bn_groups must be one of"):
        build(cdlp=dict(bn_groups='level'))
