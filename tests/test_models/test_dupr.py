# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR on a tiny model (CPU): grid geometry, masks, the
patch InfoNCE, queues, build-time checks and gradients."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.models.backbones import ResNet
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmpretrain.structures import DataSample

import mmalfm  # noqa: F401
from mmalfm.datasets.transforms.samplers import DUPRGridSampler
from mmalfm.models import DUPR
from mmalfm.models.losses.reid_nce import reid_nce
from mmalfm.models.utils.health import HEALTH_INFO_KEY
from mmalfm.registry import MODELS
from mmalfm.structures import (RegionBatch, RegionSetBatch, ViewGeometry,
                               src_to_view, view_to_src)

REPO = Path(__file__).resolve().parents[2]
BN = dict(type='BN')


def tiny_cfg(**overrides) -> dict:
    """DUPR with ResNet-18 at 1/8 width (C2-C5: 8/16/32/64 channels);
    ``overrides`` of the trunk (``backbone``, ``neck``) or of the patch
    head (``heads.reid``)."""
    reid = dict(
        type='PatchReIDHead',
        patch_neck=dict(
            type='NonLinearNeck',
            hid_channels=32,
            out_channels=16,
            with_bias=True,
            with_last_bn=False,
            with_last_bias=True,
            with_avg_pool=True,
            norm_cfg=dict(type='BN1d')),
        loss=dict(type='InfoNCELoss', temperature=0.2),
        patch_queue_len=5)
    cfg = dict(
        type='DUPR',
        backbone=dict(
            type='mmdet.ResNet',
            depth=18,
            stem_channels=8,
            base_channels=8,
            out_indices=(0, 1, 2, 3),
            norm_cfg=BN,
            norm_eval=False),
        heads=dict(
            moco=dict(
                type='MoCoGlobalHead',
                neck=dict(
                    type='MoCoV2Neck', in_channels=64, hid_channels=32,
                    out_channels=16),
                head=dict(type='MoCoQueueHead', feat_dim=16, queue_len=8)),
            reid=reid),
        target_ema=dict(type='ExponentialMovingAverage', momentum=0.001))
    for key, value in overrides.items():
        (cfg if key in ('backbone', 'neck') else reid)[key] = value
    return cfg


def build(**overrides) -> DUPR:
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(**overrides))
    model.init_weights()
    return model


@pytest.fixture
def hub():
    hub = MessageHub.get_current_instance()
    old = hub.get_info('iter')
    hub.update_info('iter', 0)
    yield hub
    hub.update_info('iter', old)


# hand-placed crops of a 100 x 80 image: A = (10, 10) 60x50, B = (30, 20)
# 60x50 flipped; overlap x 30..70, y 20..60 (40 x 40 = 1600 px, 0.53 of a
# crop) -> 4x4 cells of 10 x 10 px
CROP_A = (10, 10, 60, 50)
CROP_B = (30, 20, 60, 50)
FAR_B = (80, 65, 20, 15)  # no overlap with A


def geometry(crop_b, size=32) -> ViewGeometry:
    a = ViewGeometry.from_crop(*CROP_A, size, flip=False,
                               dtype=torch.float64)
    b = ViewGeometry.from_crop(*crop_b, size, flip=True, dtype=torch.float64)
    return ViewGeometry.stack([a, b])


def sample(crop_b, last_attempt=True, grid=4):
    return DUPRGridSampler(grid=grid, min_overlap=0.1).sample(
        geometry(crop_b), (80, 100), np.random.default_rng(0), None, 0,
        last_attempt)


def test_grid_cells_map_back_to_the_same_source_rectangles():
    regions = sample(CROP_B)
    assert regions.no_overlap is False
    expected = torch.tensor([[30. + 10 * c, 20. + 10 * r, 40. + 10 * c,
                              30. + 10 * r] for r in range(4)
                             for c in range(4)], dtype=torch.float64)
    geom = geometry(CROP_B)
    for s, rset in enumerate(regions.sets):
        assert rset.view == s
        np.testing.assert_array_equal(rset.ids, np.arange(16))
        src = torch.as_tensor(rset.boxes, dtype=torch.float64)
        torch.testing.assert_close(src, expected)
        view = src_to_view(src, geom[s])
        # inside the 32-px view
        assert bool((view >= 0).all() and (view <= 32).all())
        torch.testing.assert_close(view_to_src(view, geom[s]), expected)
    # cell 0 by hand: A: x (30-10)*32/60, y (20-10)*32/50; B mirrored
    view_a = src_to_view(expected[:1], geom[0])
    view_b = src_to_view(expected[:1], geom[1])
    torch.testing.assert_close(
        view_a, torch.tensor([[20 * 32 / 60, 6.4, 30 * 32 / 60, 12.8]],
                             dtype=torch.float64))
    torch.testing.assert_close(
        view_b, torch.tensor([[32 - 10 * 32 / 60, 0., 32., 6.4]],
                             dtype=torch.float64))


def test_no_overlap_redraws_then_gives_empty_sets():
    assert sample(FAR_B, last_attempt=False) is None
    regions = sample(FAR_B)
    assert regions.no_overlap is True
    assert [len(s.ids) for s in regions.sets] == [0, 0]


def make_batch(crops_b, size=32, seed=0):
    """Inputs and data samples of one image per ``crops_b`` entry."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for crop_b in crops_b:
        ds = DataSample()
        ds.set_metainfo(
            dict(
                view_geometry=geometry(crop_b, size).to_dict(),
                regions=sample(crop_b).to_dict()))
        samples.append(ds)
    inputs = [torch.randn(len(crops_b), 3, size, size, generator=g)
              for _ in range(2)]
    return inputs, samples


def test_identities_through_the_region_batch_and_loss(hub):
    model = build()
    inputs, samples = make_batch([CROP_B, FAR_B])
    batch = RegionBatch.build(inputs, samples)
    assert batch.pairs == [(0, 1)]
    assert [(r.ids >= 0).sum(1).tolist() for r in batch.sets] == [[16, 0]] * 2
    assert batch.no_overlap.tolist() == [False, True]
    assert model.online_views(batch) == model.target_views(batch) == [0, 1]
    losses = model.loss(inputs, samples)
    assert set(losses) == {
        'loss_global', 'loss_reid_c3', 'loss_reid_c4', 'loss_reid_c5',
        'num_no_overlap'
    }
    assert losses['num_no_overlap'].item() == 1
    for key, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), key
    # only the overlapping image's 16 cells take part (health rows)
    health = hub.get_info(HEALTH_INFO_KEY)
    assert health.branches['reid_c3'].shape == (16, 16)
    assert health.pos_pairs.tolist() == [16, 0]
    assert health.possible_pairs is None


def test_batch_without_any_overlap_gives_only_the_global_loss(hub):
    model = build()
    inputs, samples = make_batch([FAR_B, FAR_B])
    losses = model.loss(inputs, samples)
    assert losses['num_no_overlap'].item() == 2
    assert losses['loss_global'].item() > 0
    for name in ('c3', 'c4', 'c5'):
        assert losses[f'loss_reid_{name}'].item() == 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert int(model.heads.reid.patch_queues[0].ptr) == 0  # none enqueued


def test_reid_nce_hand_computed_with_gallery_and_queue():
    """Image of 3 cells, cell 2 invalid, queue of one key, T = 0.2."""
    model = build()
    q = torch.tensor([[[1., 0.], [0., 1.], [1., 0.]]])
    k = torch.tensor([[[1., 0.], [0.6, 0.8], [0., 1.]]])
    valid = torch.tensor([[True, True, False]])
    queue = torch.tensor([[0., 1.]])
    t = 0.2
    # query 0: positive 1, gallery k1 (0.6), k2 masked, queue 0
    l0 = -1 / t + math.log(math.exp(1 / t) + math.exp(0.6 / t) + 1)
    # query 1: positive 0.8, gallery k0 (0), k2 masked, queue 1
    l1 = -0.8 / t + math.log(math.exp(0.8 / t) + 1 + math.exp(1 / t))
    loss_module = model.heads.reid.loss_module
    loss = reid_nce(loss_module, q, k, valid, queue)
    assert loss.item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # a perfect positive with orthogonal negatives at a low temperature -> 0
    loss_module.temperature = 0.01
    q2 = torch.eye(3)[None]
    loss = reid_nce(loss_module, q2, q2.clone(),
                    torch.ones(1, 3, dtype=torch.bool), torch.eye(3)[2:])
    # queue key e2 equals cell 2's positive: rows 0, 1 see only orthogonal
    # negatives, row 2 has a tie with its queue copy: log 2 / 3 in total
    assert loss.item() == pytest.approx(math.log(2) / 3, abs=1e-6)


def test_queue_pointer_wraps_and_is_restored(hub):
    model = build()  # patch queues of 5 keys, 16 cells per step
    inputs, samples = make_batch([CROP_B, FAR_B])
    for it, ptr in ((0, 1), (1, 2)):
        hub.update_info('iter', it)
        with torch.no_grad():
            model.loss(inputs, samples)
        for queue in model.heads.reid.patch_queues:
            assert int(queue.ptr) == ptr  # (ptr + 16) % 5
            torch.testing.assert_close(queue.queue.norm(dim=1),
                                       torch.ones(5))
    state = model.state_dict()
    for j in range(3):
        assert f'heads.reid.patch_queues.{j}.queue' in state
        assert f'heads.reid.patch_queues.{j}.ptr' in state
    assert 'heads.moco.head.queue.queue' in state
    fresh = build()
    assert int(fresh.heads.reid.patch_queues[0].ptr) == 0
    fresh.load_state_dict(state)
    for a, b in zip(model.heads.reid.patch_queues,
                    fresh.heads.reid.patch_queues):
        assert torch.equal(a.queue, b.queue) and torch.equal(a.ptr, b.ptr)


def test_key_gather_pads_ranks_to_the_largest_set(monkeypatch):
    """Two fake ranks: this one has 3 rows, the other 5; the local rows are
    padded to 5 (invalid) before the fixed-shape all_gather."""
    from mmalfm.models.utils import negatives
    monkeypatch.setattr(negatives, 'get_world_size', lambda: 2)
    monkeypatch.setattr(negatives, 'all_gather',
                        lambda t: [t, torch.tensor([5])])
    shapes = []

    def fake_gather(x):  # both ranks send what this one sends
        shapes.append(tuple(x.shape))
        return torch.cat([x, x])

    monkeypatch.setattr(negatives, 'gather_no_grad', fake_gather)
    keys = torch.arange(6.).view(3, 2)
    mask = torch.tensor([True, False, True])
    out = negatives.gather_valid_rows(keys, mask, gather=True)
    assert shapes == [(5, 2), (5, )]
    torch.testing.assert_close(out, keys[[0, 2, 0, 2]])
    torch.testing.assert_close(
        negatives.gather_valid_rows(keys, mask, gather=False), keys[[0, 2]])


def test_level_not_output_by_the_backbone_is_a_build_error():
    with pytest.raises(ValueError,
                       match=r'model\.heads\.reid\.levels=\[1, 4\].*\[4\]'):
        build(levels=(1, 4))
    bb = tiny_cfg()['backbone']
    with pytest.raises(ValueError, match=r'out_indices=\(3,\)'):
        build(backbone=dict(bb, out_indices=(3, )))
    with pytest.raises(ValueError, match=r'model\.heads\.reid\.level_weights'):
        build(level_weights=(1., 1.))
    neck = dict(type='mmdet.FPN', in_channels=[8, 16, 32, 64],
                out_channels=16, num_outs=4)
    with pytest.raises(ValueError, match='num_outs=4'):
        build(neck=neck, levels=(1, 4))
    fpn = build(neck=neck).heads.reid
    assert fpn.level_names == ['p3', 'p4', 'p5']
    assert fpn.level_channels == [16, 16, 16]
    assert fpn.level_strides == [8, 16, 32]


FPN = dict(type='mmdet.FPN', in_channels=[8, 16, 32, 64], out_channels=16,
           num_outs=4, norm_cfg=BN)


@pytest.mark.parametrize('neck', [None, FPN], ids=['c3-c5', 'fpn-p3-p5'])
def test_gradients_reach_online_modules_only(hub, neck):
    model = build(neck=neck)
    inputs, samples = make_batch([CROP_B, CROP_B])
    losses = model.loss(inputs, samples)
    names = ['p3', 'p4', 'p5'] if neck else ['c3', 'c4', 'c5']
    assert {f'loss_reid_{n}' for n in names} < set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    for name, p in model.target_net.named_parameters():
        assert not p.requires_grad and p.grad is None, name
    prefixes = ['backbone.', 'heads.moco.neck.', 'heads.reid.patch_necks.0.',
                'heads.reid.patch_necks.1.', 'heads.reid.patch_necks.2.']
    if neck:  # P3-P5 laterals and output convs (P2's get no gradient)
        prefixes += [f'neck.{m}_convs.{i}.' for m in ('lateral', 'fpn')
                     for i in (1, 2, 3)]
    for prefix in prefixes:
        grads = [p.grad for n, p in model.named_parameters()
                 if n.startswith(prefix)]
        assert grads and any(g is not None and g.abs().sum() > 0
                             for g in grads), prefix
    # the momentum encoder copies backbone, global MLP and patch MLPs
    assert set(model.target.keys()) == {'backbone', 'heads'} | (
        {'neck'} if neck else set())
    assert {name: set(part) for name, part in model.target.heads.items()
            } == {'moco': {'neck'}, 'reid': {'patch_necks'}}


def test_important_patches_are_the_top_energy_cells():
    model = build(num_important=4).heads.reid
    # a 128-px view: the 4x4 cells of the whole view are the 4x4 C5 cells
    c5 = torch.zeros(1, 64, 4, 4)
    hot = [(0, 0), (1, 2), (2, 1), (3, 3)]
    for r, c in hot:
        c5[0, :, r, c] = 10.
    feats = (None, None, None, c5)  # (*maps, C5)
    cells = torch.tensor([[32. * c, 32. * r, 32. * (c + 1), 32. * (r + 1)]
                          for r in range(4) for c in range(4)])[None]
    ids = torch.arange(16)[None]
    regions = [RegionSetBatch(s, s, ids, cells, cells) for s in range(2)]
    valid = torch.ones(1, 16, dtype=torch.bool)
    keep = model.important_mask({0: feats, 1: feats}, regions, valid)
    assert sorted(keep[0].nonzero().flatten().tolist()) == sorted(
        4 * r + c for r, c in hot)
    # invalid cells are never kept
    valid[0, 0] = False
    keep = model.important_mask({0: feats, 1: feats}, regions, valid)
    assert not keep[0, 0] and keep.sum() == 4


def test_min_cell_strides_masks_small_cells_per_level():
    model = build(min_cell_strides=2).heads.reid
    # 20 px and 40 px cells: >= 16 (C3) for both, >= 32 (C4) for the second
    # only, never >= 64 (C5); the second is 30 px wide in the other view
    a = torch.tensor([[[0., 0., 20., 20.], [0., 0., 40., 40.]]])
    b = torch.tensor([[[0., 0., 20., 20.], [0., 0., 30., 40.]]])
    ids = torch.arange(2)[None]
    regions = [
        RegionSetBatch(0, 0, ids, a, a),
        RegionSetBatch(1, 1, ids, b, b)
    ]
    assert model.size_mask(regions, 0).tolist() == [[True, True]]
    assert model.size_mask(regions, 1).tolist() == [[False, False]]
    regions[1] = RegionSetBatch(1, 1, ids, a, a)
    assert model.size_mask(regions, 1).tolist() == [[False, True]]
    assert model.size_mask(regions, 2).tolist() == [[False, False]]


def test_r50_backbone_keys_are_mmdets():
    cfg = Config.fromfile(REPO / 'configs/_base_/models/dupr_resnet50.py')
    cfg.model.heads.moco.head.queue_len = 16
    cfg.model.heads.reid.patch_queue_len = 16
    model = MODELS.build(cfg.model)
    ours = {k[len('backbone.'):]: v.shape
            for k, v in model.state_dict().items()
            if k.startswith('backbone.')}
    ref = {k: v.shape for k, v in ResNet(depth=50).state_dict().items()}
    assert ours == ref
    # nothing else is named like a detector module
    assert not any(k.startswith(('roi_head.', 'neck.'))
                   for k in model.state_dict())
