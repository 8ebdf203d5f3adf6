# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL: PrRoIPool 1x1, the five loss terms by hand (MoCoGlobalHead and
CrossStageRegionHead), gradients, build errors, exported keys and the
sampler/model integration (CPU, tiny)."""
import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.models import CrossCL
from mmalfm.models.utils import prroi_pool_1x1
from mmalfm.models.utils.health import HEALTH_INFO_KEY
from mmalfm.registry import MODELS, TRANSFORMS
from mmalfm.structures import (RegionBatch, RegionSetBatch, ViewGeometry,
                               sliding_windows, src_to_view, view_to_src)

REPO = Path(__file__).resolve().parents[2]
SIZE = 64
WIN, STRIDE = 48 * SIZE / 224, 32 * SIZE / 224


def tiny_cfg(region=None, **overrides) -> dict:
    """The tiny model; ``region`` updates ``heads.region``, ``overrides``
    the model."""
    cfg = dict(
        type='CrossCL',
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True),
        backbone=dict(
            type='mmdet.ResNet',
            depth=18,
            stem_channels=8,
            base_channels=8,
            out_indices=(1, 2, 3),
            norm_cfg=dict(type='BN'),
            zero_init_residual=False),
        neck=dict(type='PartialFPN', in_channels=(16, 32, 64),
                  out_channels=16),
        heads=dict(
            moco=dict(
                type='MoCoGlobalHead',
                neck=dict(
                    type='MoCoV2Neck',
                    in_channels=64,
                    hid_channels=32,
                    out_channels=8,
                    with_avg_pool=True),
                head=dict(type='MoCoQueueHead', feat_dim=8, queue_len=16)),
            region=dict(
                dict(
                    type='CrossStageRegionHead',
                    loss=dict(type='InfoNCELoss', temperature=0.2),
                    view_size=SIZE), **(region or {}))))
    cfg.update(overrides)
    return cfg


def build(region=None, **overrides) -> CrossCL:
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(region, **overrides))
    model.init_weights()
    return model


def make_batch(num_images=2, seed=0, size=SIZE, flip_prob=0.5):
    views = [dict(kind='resized_crop', size=size, scale=(0.2, 1.), num=2,
                  flip_prob=flip_prob)]
    pipeline = [
        TRANSFORMS.build(
            dict(
                type='MultiViewCrop',
                views=views,
                flip='shared',
                region_sampler=dict(
                    type='CrossCLWindowSampler',
                    view_size=size,
                    window=48 * size / 224,
                    stride=32 * size / 224))),
        TRANSFORMS.build(dict(type='PackMultiViewInputs')),
    ]
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    items = []
    for i in range(num_images):
        result = dict(
            img=rng.integers(0, 255, (70, 90, 3), dtype=np.uint8),
            img_path=f'img{i}.jpg')
        for t in pipeline:
            result = t(result)
        items.append(result)
    return default_collate(items)


@pytest.fixture
def hub():
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


# ------------------------------------------------------------ PrRoIPool
def test_prroi_constant_map_equals_the_constant():
    feat = torch.full((2, 3, 8, 10), 2.5)
    # boxes inside [0, W-1] x [0, H-1] in feature cells (scale 1/4)
    boxes = torch.tensor([[[0., 0., 36., 28.], [4.2, 3.1, 13.7, 9.9]],
                          [[10., 2., 30., 20.], [1., 1., 2., 2.]]])
    out = prroi_pool_1x1(feat, boxes, 0.25)
    assert out.shape == (4, 3) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.full((4, 3), 2.5))


def test_prroi_linear_ramp_equals_the_exact_region_mean():
    """F[i, j] = 3 j - 2 i + 1: the bilinear interpolation is the plane
    3x - 2y + 1, whose mean over [x0, x1] x [y0, y1] is its value at the
    box centre."""
    h, w = 10, 16
    i = torch.arange(h, dtype=torch.float32)[:, None]
    j = torch.arange(w, dtype=torch.float32)[None]
    feat = (3 * j - 2 * i + 1).expand(1, 2, h, w).clone()
    feat[0, 1] *= -1
    boxes = torch.tensor([[[8., 4., 28., 16.], [2., 2., 26., 18.],
                           [0.4, 0.8, 1.6, 1.2]]])  # scale 1/2
    out = prroi_pool_1x1(feat, boxes, 0.5)
    cx = (boxes[0, :, 0] + boxes[0, :, 2]) / 4
    cy = (boxes[0, :, 1] + boxes[0, :, 3]) / 4
    mean = 3 * cx - 2 * cy + 1
    torch.testing.assert_close(out, torch.stack([mean, -mean], 1))
    # box 0 in cells: [4, 14] x [2, 8], centre (9, 5)
    assert out[0, 0].item() == pytest.approx(3 * 9 - 2 * 5 + 1)


def test_prroi_empty_box_is_zero_and_fp16_is_cast():
    feat = torch.randn(1, 4, 5, 5).half()
    out = prroi_pool_1x1(feat, torch.tensor([[[2., 2., 2., 4.]]]), 1.)
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.zeros(1, 4))


def test_prroi_gradient_is_the_interpolation_weights():
    feat = torch.zeros(1, 1, 4, 4, requires_grad=True)
    out = prroi_pool_1x1(feat, torch.tensor([[[1., 1., 2., 2.]]]), 1.)
    out.sum().backward()
    # mean over [1, 2]^2 of the hats at 1 and 2: 1/2 each axis
    expected = torch.zeros(4, 4)
    expected[1:3, 1:3] = 0.25
    torch.testing.assert_close(feat.grad[0, 0], expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_prroi_torch_matches_mmcv_cuda():
    feat = torch.randn(2, 8, 14, 14, device='cuda')
    boxes = torch.rand(2, 36, 4, device='cuda') * 200
    boxes[..., 2:] = boxes[..., :2] + torch.rand(2, 36, 2,
                                                 device='cuda') * 60
    a = prroi_pool_1x1(feat, boxes, 1 / 16, impl='mmcv')
    b = prroi_pool_1x1(feat, boxes, 1 / 16, impl='torch')
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------- losses
def _nce(q, k, negs, valid, t=0.2):
    """Hand-written CE([q.k, q.negs] / t, label 0) mean over valid rows."""
    total, num = 0., 0
    for r in range(q.shape[0]):
        if not valid[r]:
            continue
        qn = q[r] / q[r].norm()
        pos = math.exp(float(qn @ (k[r] / k[r].norm())) / t)
        neg = sum(
            math.exp(float(qn @ (n / n.norm())) / t) for n in negs)
        total += -math.log(pos / (pos + neg))
        num += 1
    return total / num


def test_five_terms_equal_hand_computed_values(hub):
    """Stub encoders: fixed P3/P4 maps and pooled C5, so every term is
    checked against a hand-written loop (ignored window: label -1); the
    global embeddings are the MoCo neck's (online) and its EMA copy's."""
    model = build()
    torch.manual_seed(1)
    n, c = 2, 16
    p3q, p3k = torch.randn(n, c, 8, 8), torch.randn(n, c, 8, 8)
    p4q, p4k = torch.randn(n, c, 4, 4), torch.randn(n, c, 4, 4)
    c5q, c5k = torch.randn(n, 64, 1, 1), torch.randn(n, 64, 1, 1)
    with torch.no_grad():
        gq = model.heads.moco.neck((c5q, ))[0]
        gk = model.target.heads.moco.neck((c5k, ))[0]
    # 2 windows per image in view pixels (64 px views)
    qb = torch.tensor([[[0., 0., 16., 16.], [8., 16., 40., 40.]]] * 2)
    kb = torch.tensor([[[4., 4., 20., 24.], [30., 30., 60., 60.]],
                       [[0., 8., 24., 32.], [16., 16., 48., 48.]]])
    ids_q = torch.tensor([[0, 1], [0, 1]])
    ids_k = torch.tensor([[0, -1], [0, 1]])  # window 1 of image 0 ignored
    batch = RegionBatch(
        geometry=None,  # not read: the boxes are given in view pixels
        view_shapes=[(SIZE, SIZE)] * 2,
        sets=[
            RegionSetBatch(0, 0, ids_q, qb, qb),
            RegionSetBatch(1, 1, ids_k, kb, kb)
        ],
        pairs=[(0, 1)])
    queue = model.heads.moco.head.queue.queue.clone()
    losses, health = model.region_losses({0: (p3q, p4q, c5q)},
                                         {1: (p3k, p4k, c5k)}, batch)
    assert health.pos_pairs.tolist() == [1, 2]
    assert health.possible_pairs.tolist() == [2, 2]

    def pool(f, b, s):
        return prroi_pool_1x1(f, b, s)

    r3q, r4q = pool(p3q, qb, 1 / 8), pool(p4q, qb, 1 / 16)
    r3k, r4k = pool(p3k, kb, 1 / 8), pool(p4k, kb, 1 / 16)
    # dense negatives: 3x3 average pool, stride 1, per image row-major
    n3 = F.avg_pool2d(p3k, 3, 1).permute(0, 2, 3, 1).reshape(-1, c)
    n4 = F.avg_pool2d(p4k, 3, 1).permute(0, 2, 3, 1).reshape(-1, c)
    assert n3.shape == (2 * 36, c) and n4.shape == (2 * 4, c)
    valid = [True, False, True, True]
    expected = {
        'loss_global': _nce(gq, gk, queue, [True, True]),
        'loss_p4': _nce(r4q, r4k, n4, valid),
        'loss_p3': _nce(r3q, r3k, n3, valid),
        'loss_p4_p3': _nce(r4q, r3k, n3, valid),
        'loss_p3_p4': _nce(r3q, r4k, n4, valid),
    }
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, rel=1e-5), name
    assert losses['valid_windows'].item() == 1.5
    # the queue got the keys (normalised) after the loss
    torch.testing.assert_close(model.heads.moco.head.queue.queue[:2],
                               F.normalize(gk, dim=1))
    assert int(model.heads.moco.head.queue.ptr) == 2


def test_loss_weights_scale_the_regional_terms(hub):
    model = build(dict(loss_weights=dict(p3_p4=0.5)))
    assert model.heads.region.loss_weights == dict(
        p4=1., p3=1., p4_p3=1., p3_p4=0.5)
    with pytest.raises(ValueError, match='unknown terms'):
        build(dict(loss_weights=dict(p5=1.)))


# ----------------------------------------------------- training step
def test_loss_runs_and_grads_reach_online_params_only(batch, hub):
    model = build()
    losses = _loss(model, batch)
    assert set(losses) == {
        'loss_global', 'loss_p4', 'loss_p3', 'loss_p4_p3', 'loss_p3_p4',
        'valid_windows'
    }
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    for name, p in model.target_net.named_parameters():
        assert not p.requires_grad and p.grad is None, name
    for name, p in model.named_parameters():
        if name.startswith(('backbone.', 'neck.', 'heads.moco.neck.')):
            assert p.grad is not None, name
    assert any(p.grad.abs().sum() > 0 for n, p in model.named_parameters()
               if n.startswith('neck.fpn_output3'))
    health = hub.get_info(HEALTH_INFO_KEY)
    assert health.possible_pairs.tolist() == [36, 36]
    assert set(health.branches) == {'global', 'p4', 'p3'}
    assert health.branches['p4'].shape == (int(health.pos_pairs.sum()), 16)


def test_ema_is_constant_0999_and_updates_before_the_key_forward(batch, hub):
    model = build()
    p_on = model.backbone.conv1.weight
    p_t = model.target.backbone.conv1.weight
    _loss(model, batch)  # first update copies
    assert torch.equal(p_t, p_on)
    for k in (1, 2):
        hub.update_info('iter', k)
        with torch.no_grad():
            p_on.add_(torch.randn_like(p_on))
        before = p_t.detach().clone()
        _loss(model, batch)
        torch.testing.assert_close(p_t, 0.999 * before + 0.001 * p_on)
    assert set(model.target.keys()) == {'backbone', 'neck', 'heads'}
    assert set(model.target.heads.keys()) == {'moco'}
    assert set(model.target.heads.moco.keys()) == {'neck'}


def test_shuffle_bn_is_a_noop_in_one_process(batch, hub):
    a, b = build(shuffle_bn=True), build(shuffle_bn=False)
    la, lb = _loss(a, batch), _loss(b, batch)
    for key in la:
        assert torch.equal(la[key], lb[key]), key


# -------------------------------------------------- sampler integration
def test_sampler_model_integration_36_windows_shared_flip(hub):
    batch = make_batch(num_images=6, seed=3)
    seen_flip = set()
    for ds in batch['data_samples']:
        geom = ViewGeometry.from_dict(ds.metainfo['view_geometry'])
        regions = ds.metainfo['regions']
        assert len(regions['ids'][0]) == len(regions['ids'][1]) == 36
        assert np.array_equal(regions['ids'][0], np.arange(36))
        flips = geom.flip.tolist()
        assert flips[0] == flips[1]  # shared flip: same orientation
        seen_flip.add(bool(flips[0]))
        key_ids = torch.as_tensor(regions['ids'][1])
        ok = key_ids >= 0
        assert set(key_ids.tolist()) <= set(range(36)) | {-1}
        src = torch.as_tensor(regions['boxes'][0], dtype=torch.float64)
        # query boxes = the fixed grid in query-view pixels
        qv = src_to_view(src, geom[0])
        torch.testing.assert_close(
            qv, sliding_windows(SIZE, WIN, STRIDE, dtype=torch.float64),
            atol=1e-3, rtol=0)
        # valid key windows lie fully inside the key view and map back to
        # the same source rectangle; invalid ones do not lie inside
        kv = src_to_view(src, geom[1])
        inside = (kv[:, :2] >= 0).all(1) & (kv[:, 2:] < SIZE).all(1)
        assert torch.equal(inside, ok)
        torch.testing.assert_close(view_to_src(kv, geom[1]), src,
                                   atol=1e-3, rtol=0)
    assert seen_flip == {True, False}
    # the model accepts the batch and pools 36 windows per image
    model = build()
    losses = _loss(model, batch)
    health = hub.get_info(HEALTH_INFO_KEY)
    assert health.possible_pairs.tolist() == [36] * 6
    assert losses['valid_windows'].item() == pytest.approx(
        health.pos_pairs.float().mean().item())
    assert 0 < losses['valid_windows'].item() <= 36


def test_batch_errors_name_both_sides(hub):
    model = build(dict(view_size=96))
    with pytest.raises(ValueError, match=r'view 0 is 64x64 but model\.heads'
                       r'\.region\.view_size=96'):
        _loss(model, make_batch())
    bare = make_batch()
    for ds in bare['data_samples']:
        ds.set_metainfo(dict(regions=None))
    with pytest.raises(ValueError) as err:
        _loss(build(), bare)
    assert 'CrossCL needs 1 region pair(s) but the batch has 0' in str(
        err.value)
    assert 'CrossCLWindowSampler' in str(err.value)


def test_retired_window_keys_name_the_sampler():
    for key in ('window', 'window_stride'):
        with pytest.raises(ValueError) as err:
            build(**{key: 32.})
        msg = str(err.value)
        assert f'model.{key} was removed from CrossCL' in msg
        assert 'CrossCLWindowSampler' in msg


# ------------------------------------------------------------ build errors
def test_build_error_p4_smaller_than_the_negative_pooling():
    with pytest.raises(ValueError) as err:
        build(dict(view_size=32))
    msg = str(err.value)
    assert 'model.heads.region.view_size=32' in msg and '2x2' in msg
    assert 'P4' in msg
    assert 'at least 48 px' in msg


def test_build_error_window_grid_does_not_fit_the_view():
    with pytest.raises(ValueError, match='does not fit the view size 64'):
        TRANSFORMS.build(
            dict(
                type='MultiViewCrop',
                views=[dict(kind='resized_crop', size=64, num=2)],
                flip='shared',
                region_sampler=dict(
                    type='CrossCLWindowSampler', view_size=64, window=80)))


def test_build_rejects_modules_crosscl_does_not_have():
    with pytest.raises(ValueError, match='CrossCL has no roi_head'):
        build(roi_head=dict(type='RegionRoIHead'))
    with pytest.raises(ValueError, match=r'out_indices=\(0, 1, 2, 3\)'):
        cfg = tiny_cfg()
        cfg['backbone'] = dict(cfg['backbone'], out_indices=(0, 1, 2, 3))
        MODELS.build(cfg)


# ------------------------------------------------------------- export
def test_r50_backbone_keys_equal_mmdet_mask_rcnn():
    import mmdet
    import mmdet.models  # noqa: F401
    from mmdet.registry import MODELS as MMDET_MODELS
    cfg = Config.fromfile(
        str(REPO / 'configs/_base_/models/crosscl_resnet50.py'))
    cfg.model.heads.moco.head.queue_len = 16
    with DefaultScope.overwrite_default_scope('mmalfm'):
        ours = MODELS.build(cfg.model).state_dict()
    det_cfg = Config.fromfile(
        str(Path(mmdet.__file__).parent / '.mim' / 'configs' / 'mask_rcnn' /
            'mask-rcnn_r50_fpn_1x_coco.py'))
    det_cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdet'):
        theirs = MMDET_MODELS.build(det_cfg.model).state_dict()

    def shapes(state):
        return {
            k: tuple(v.shape)
            for k, v in state.items() if k.startswith('backbone.')
        }

    assert shapes(ours) == shapes(theirs)
    assert {k.split('.')[0] for k in ours} == {
        'backbone', 'neck', 'heads', 'target_net'
    }
    assert {'.'.join(k.split('.')[:3]) for k in ours
            if k.startswith('heads.')} == {'heads.moco.neck',
                                           'heads.moco.head'}
    assert ours['heads.moco.head.queue.queue'].shape == (16, 128)
    neck = {k for k in ours if k.startswith('neck.')}
    assert neck == {
        f'neck.fpn_{n}.{p}'
        for n in ('lateral3', 'lateral4', 'lateral5', 'output3', 'output4')
        for p in ('weight', 'bias')
    }


# ----------------------------------------------------------- ShuffleBN
def _shuffle_worker(rank, world, port):
    import os

    import torch.distributed as dist

    from mmalfm.models.algorithms.crosscl import (batch_shuffle_ddp,
                                                  batch_unshuffle_ddp)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)  # the permutation must come from rank 0
        x = torch.arange(4.)[:, None] + 10 * rank
        xs, unshuffle = batch_shuffle_ddp(x)
        parts = [torch.zeros_like(xs) for _ in range(world)]
        dist.all_gather(parts, xs)
        assert sorted(torch.cat(parts).flatten().tolist()) == [
            0., 1., 2., 3., 10., 11., 12., 13.
        ]
        assert torch.equal(batch_unshuffle_ddp(xs * 2, unshuffle), x * 2)
    finally:
        dist.destroy_process_group()


def test_shuffle_bn_permutes_across_ranks_and_unshuffles():
    """Two gloo ranks: the shuffled batches partition the global batch, and
    unshuffling an output returns each rank's own rows in order."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    # fork: the children inherit the imports (spawn would re-import mmdet)
    mp.start_processes(
        _shuffle_worker, args=(2, port), nprocs=2, start_method='fork')
