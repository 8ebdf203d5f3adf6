# Copyright (c) mmalfm contributors. All rights reserved.
"""MultiViewCrop / ViewPipelines / PackMultiViewInputs on tiny images.

Every expected pixel is recomputed by hand from the recorded geometry:
``mmcv.imresize(img[y1:y2, x1:x2], (w, h))``, mirrored when flipped.
"""
import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmpretrain.models.utils import SelfSupDataPreprocessor

from mmalfm.datasets.transforms import (MultiViewCrop, PackMultiViewInputs,
                                        ViewPipelines)
from mmalfm.datasets.transforms.multi_view import random_resized_crop_params
from mmalfm.datasets.transforms.regions import (BaseRegionSampler, Regions,
                                                RegionSet)
from mmalfm.registry import TASK_UTILS
from mmalfm.structures import ViewGeometry, src_to_view


def _img(h=30, w=40, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3), np.uint8)


def _run(t, img, seed, **extra):
    np.random.seed(seed)
    return t(dict(img=img, img_path='img/a.jpg', ori_shape=img.shape[:2],
                  **extra))


def _expected(img, crop, size, flip, **resize):
    x1, y1, x2, y2 = (int(round(v)) for v in crop)
    assert [x1, y1, x2, y2] == list(crop)  # integer pixel corners
    view = mmcv.imresize(img[y1:y2, x1:x2], tuple(size), **resize)
    return view[:, ::-1] if flip else view


def _check_pixels(img, out, **resize):
    g = out['view_geometry']
    for k, view in enumerate(out['img']):
        exp = _expected(img, g['crop'][k], g['out_size'][k], g['flip'][k],
                        **resize)
        np.testing.assert_array_equal(view, exp)
        assert view.flags.c_contiguous
        assert out['img_shape'][k] == view.shape[:2]


class _Scripted(BaseRegionSampler):
    """Returns None for the first ``nones`` attempts, then one region."""

    def __init__(self, nones=0, needs_proposals=False, facts=None):
        self.nones = nones
        self.needs_proposals = needs_proposals
        self.facts = facts or {}
        self.calls = []

    def sample(self, geometry, img_shape, rng, proposals, attempt,
               last_attempt):
        self.calls.append(
            dict(attempt=attempt, last=last_attempt, geometry=geometry,
                 img_shape=img_shape, proposals=proposals, rng=rng))
        if attempt < self.nones and not last_attempt:
            return None
        return Regions([RegionSet(0, [7], [[1., 2., 5., 6.]])], [],
                       **self.facts)


# ---------------------------------------------------------- geometry
def test_resized_crop_pixels_match_geometry():
    img = _img()
    t = MultiViewCrop(views=[
        dict(kind='resized_crop', size=(16, 12), scale=(0.2, 1.), num=2)
    ])
    flips = set()
    for seed in range(6):
        out = _run(t, img, seed)
        assert len(out['img']) == 2 and out['ori_shape'] == (30, 40)
        _check_pixels(img, out)
        for (x1, y1, x2, y2) in out['view_geometry']['crop']:
            assert 0 <= x1 < x2 <= 40 and 0 <= y1 < y2 <= 30
            area = (x2 - x1) * (y2 - y1) / 1200
            assert 0.15 <= area <= 1.05
        assert out['view_geometry']['out_size'] == [[16, 12], [16, 12]]
        flips.update(out['view_geometry']['flip'])
    assert flips == {True, False}


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_bicubic_and_pillow_backend(backend):
    img = _img()
    t = MultiViewCrop(views=[dict(kind='resized_crop', size=12)],
                      interpolation='bicubic', backend=backend)
    _check_pixels(img, _run(t, img, 1), interpolation='bicubic',
                  backend=backend)
    with pytest.raises(ValueError, match='not supported'):
        MultiViewCrop(views=[dict(kind='whole')], interpolation='cubic')


def test_same_seed_same_views():
    img = _img()
    t = MultiViewCrop(views=[dict(kind='resized_crop', size=8, num=3)])
    a, b = _run(t, img, 3), _run(t, img, 3)
    assert a['view_geometry'] == b['view_geometry']
    assert len(a['img']) == 3  # num=3 -> three views
    assert len({tuple(c) for c in a['view_geometry']['crop']}) == 3


def test_whole_view_is_full_image_anisotropic():
    img = _img()
    out = _run(MultiViewCrop(views=[dict(kind='whole', size=(20, 10))]), img,
               0)
    assert out['view_geometry']['crop'] == [[0., 0., 40., 30.]]
    assert out['img'][0].shape == (10, 20, 3)
    _check_pixels(img, out)


def test_resize_of_reuses_source_crop_with_own_size_and_flip():
    img = _img()
    t = MultiViewCrop(views=[
        dict(kind='whole', size=24),
        dict(kind='resized_crop', size=16, scale=(0.3, 1.)),
        dict(kind='resize_of', source=1, size=8)
    ])
    differ = False
    for seed in range(8):
        out = _run(t, img, seed)
        g = out['view_geometry']
        assert g['crop'][2] == g['crop'][1]
        assert g['out_size'][2] == [8, 8]
        differ |= g['flip'][2] != g['flip'][1]
        _check_pixels(img, out)
    assert differ  # own flip


def test_shared_flip_flips_all_views_and_maps_lit_pixel():
    img = np.zeros((20, 20, 3), np.uint8)
    img[10, 4] = 255  # lit source pixel: box (4, 10, 5, 11)
    t = MultiViewCrop(
        views=[dict(kind='resized_crop', size=40, scale=(0.9, 1.),
                    ratio=(1., 1.), flip_prob=1., num=2)],
        flip='shared')
    out = _run(t, img, 0)
    g = out['view_geometry']
    assert g['flip'] == [True, True]
    _check_pixels(img, out)
    geom = ViewGeometry.from_dict(g)
    lit = torch.tensor([[4., 10., 5., 11.]])
    for k, view in enumerate(out['img']):
        x1, y1, x2, y2 = src_to_view(lit, geom[k])[0].tolist()
        r, c = np.unravel_index(view[..., 0].argmax(), view.shape[:2])
        assert view[r, c, 0] > 0
        assert x1 <= c + 0.5 <= x2 and y1 <= r + 0.5 <= y2
        assert c > 20  # flipped: the left-side pixel lands on the right


def test_shared_flip_is_one_decision_recorded_as_flipped_source_crop():
    t = MultiViewCrop(
        views=[dict(kind='resized_crop', size=8, num=2),
               dict(kind='whole', size=8)],
        flip='shared')
    seen = set()
    for seed in range(8):
        out = _run(t, _img(), seed)
        flips = out['view_geometry']['flip']
        assert len(set(flips)) == 1
        seen.add(flips[0])
    assert seen == {True, False}
    with pytest.raises(ValueError, match='same flip_prob'):
        MultiViewCrop(views=[dict(kind='whole', flip_prob=0.5),
                             dict(kind='whole', flip_prob=0.2)],
                      flip='shared')


def test_image_smaller_than_crop_is_upsampled():
    img = _img(4, 5)
    t = MultiViewCrop(views=[dict(kind='resized_crop', size=32),
                             dict(kind='whole', size=(16, 8))])
    out = _run(t, img, 0)
    assert [v.shape for v in out['img']] == [(32, 32, 3), (8, 16, 3)]
    _check_pixels(img, out)


def test_rrc_params_fallback_and_bounds():
    rng = np.random.default_rng(0)
    # a 1 x 100 strip: no try fits ratio (3/4, 4/3) -> central fallback
    p = random_resized_crop_params(rng, (1, 100), 4, (0.5, 1.))
    assert p.tolist() == [[0, 49, 1, 1]] * 4  # (100 - 1) // 2 = 49
    p = random_resized_crop_params(rng, (50, 60), 1000, (0.2, 1.))
    top, left, h, w = p.T
    assert (top >= 0).all() and (top + h <= 50).all()
    assert (left >= 0).all() and (left + w <= 60).all()
    assert (w / h).min() >= 0.7 and (w / h).max() <= 1.4


# ---------------------------------------------------------- sampler
def test_sampler_redraws_until_regions():
    sampler = _Scripted(nones=2)
    t = MultiViewCrop(views=[dict(kind='resized_crop', size=8, num=2)],
                      region_sampler=sampler)
    out = _run(t, _img(), 0)
    assert [c['attempt'] for c in sampler.calls] == [0, 1, 2]
    assert [c['last'] for c in sampler.calls] == [False] * 3
    assert out['regions']['info']['attempts'] == 3
    assert out['regions']['ids'][0].tolist() == [7]
    call = sampler.calls[-1]
    assert call['geometry'].batch_shape == (2, )
    assert call['geometry'].dtype == torch.float64
    assert call['img_shape'] == (30, 40) and call['proposals'] is None
    assert isinstance(call['rng'], np.random.Generator)
    # the pixels are those of the accepted (last) draw
    assert out['view_geometry'] == call['geometry'].to_dict()


def test_sampler_last_attempt_flag_and_none_on_last_attempt():
    sampler = _Scripted(nones=10)
    t = MultiViewCrop(views=[dict(kind='whole', size=8)],
                      region_sampler=sampler, max_tries=2)
    out = _run(t, _img(), 0)
    assert [c['last'] for c in sampler.calls] == [False, True]
    assert out['regions']['info']['attempts'] == 2

    class _Broken(_Scripted):

        def sample(self, *args, **kwargs):
            return None

    with pytest.raises(RuntimeError, match='last_attempt=True'):
        _run(MultiViewCrop(views=[dict(kind='whole')],
                           region_sampler=_Broken(), max_tries=1), _img(), 0)


def test_needs_proposals_without_proposals_names_image():
    t = MultiViewCrop(views=[dict(kind='whole', size=8)],
                      region_sampler=_Scripted(needs_proposals=True))
    with pytest.raises(KeyError, match='img/a.jpg') as err:
        _run(t, _img(), 0)
    assert 'ProposalDataset' in str(err.value)


def test_proposals_are_cleaned_for_the_sampler():
    sampler = _Scripted(needs_proposals=True)
    t = MultiViewCrop(views=[dict(kind='whole', size=8)],
                      region_sampler=sampler)
    props = np.array([[-5, 2, 10, 50], [3, 3, 3, 9], [38, 1, 60, 4]],
                     np.float32)
    _run(t, _img(), 0, proposals=props)
    got = sampler.calls[0]['proposals']
    assert got.dtype == np.float32
    assert got.tolist() == [[0, 2, 10, 30], [38, 1, 40, 4]]  # 40 x 30 image


def test_sampler_built_from_task_utils():

    @TASK_UTILS.register_module(name='_MVTestSampler', force=True)
    class _Registered(_Scripted):
        pass

    t = MultiViewCrop(views=[dict(kind='whole', size=8)],
                      region_sampler=dict(type='_MVTestSampler', nones=1))
    assert isinstance(t.region_sampler, _Registered)
    assert _run(t, _img(), 0)['regions']['info']['attempts'] == 2
    with pytest.raises(KeyError, match='NoSuchSampler'):
        MultiViewCrop(views=[dict(kind='whole')],
                      region_sampler=dict(type='NoSuchSampler'))


def test_region_crop_views_are_tight_crops_of_local_boxes():
    local = np.array([[2.5, 3., 10., 9.2], [20., 5., 30., 25.]], np.float32)
    sampler = _Scripted(facts=dict(local_boxes=local))
    t = MultiViewCrop(
        views=[dict(kind='whole', size=8),
               dict(kind='region_crop', size=6, num=3)],
        region_sampler=sampler)
    img = _img()
    out = _run(t, img, 0)
    g = out['view_geometry']
    assert sampler.calls[0]['geometry'].batch_shape == (1, )  # drawn only
    # rounded outwards to whole pixels; the third view wraps to box 0
    assert g['crop'][1:] == [[2., 3., 10., 10.], [20., 5., 30., 25.],
                             [2., 3., 10., 10.]]
    assert g['out_size'][1:] == [[6, 6]] * 3
    _check_pixels(img, out)
    regions = out['regions']
    assert regions['info']['local_sets'] == [1, 2, 3]
    assert regions['views'].tolist() == [0, 1, 2, 3]
    assert [i.tolist() for i in regions['ids'][1:]] == [[0], [1], [0]]
    np.testing.assert_array_equal(regions['boxes'][2], local[1:2])
    assert regions['pairs'].shape == (0, 2)  # no pairs invented


def test_bad_view_configs():
    with pytest.raises(ValueError, match='kind'):
        MultiViewCrop(views=[dict(kind='crop')])
    with pytest.raises(ValueError, match='source'):
        MultiViewCrop(views=[dict(kind='resize_of', source=0)])
    with pytest.raises(ValueError, match='after all other views'):
        MultiViewCrop(views=[dict(kind='region_crop'), dict(kind='whole')],
                      region_sampler=_Scripted())
    with pytest.raises(ValueError, match='unknown keys'):
        MultiViewCrop(views=[dict(kind='whole', scal=(0.2, 1.))])


# ---------------------------------------------------------- photometric
def test_view_pipelines_reject_geometric_transforms():
    with pytest.raises(ValueError, match='RandomFlip.*MultiViewCrop'):
        ViewPipelines(transforms=[[dict(type='RandomFlip', prob=0.5)]])
    nested = dict(type='RandomApply', prob=0.5,
                  transforms=[dict(type='RandomResizedCrop', scale=8)])
    with pytest.raises(ValueError, match='RandomResizedCrop'):
        ViewPipelines(transforms=[[dict(type='Solarize', thr=1)], [nested]])


def test_view_pipelines_per_view_and_broadcast():
    views = [np.full((2, 2, 3), v, np.uint8) for v in (10, 20, 30)]
    geometry = dict(crop=[[0, 0, 1, 1]] * 3, out_size=[[2, 2]] * 3,
                    flip=[False] * 3)
    results = dict(img=list(views), view_geometry=geometry)
    t = ViewPipelines(transforms=[
        [dict(type='Solarize', thr=0, prob=1.)],  # x -> 255 - x
        [],  # identity, broadcast to view 2
    ])
    out = t(results)
    assert [int(v[0, 0, 0]) for v in out['img']] == [245, 20, 30]
    assert out['view_geometry'] is geometry


def test_view_pipelines_refuse_size_change_at_run_time():

    class Shrink:

        def __call__(self, results):
            results['img'] = results['img'][:1]
            return results

    t = ViewPipelines(transforms=[[Shrink()]])
    with pytest.raises(ValueError, match='changed the view size'):
        t(dict(img=[np.zeros((2, 2, 3), np.uint8)]))


# ---------------------------------------------------------- packing
def test_pack_and_collate_batch_of_two():
    t = MultiViewCrop(
        views=[dict(kind='resized_crop', size=16),
               dict(kind='resize_of', source=0, size=(8, 12))],
        region_sampler=_Scripted())
    pack = PackMultiViewInputs()
    samples = []
    for seed in range(2):
        out = _run(t, _img(seed=seed), seed,
                   proposals=np.array([[1, 1, 5, 5]], np.float32))
        samples.append(pack(out))
    batch = default_collate(samples)
    inputs, data_samples = batch['inputs'], batch['data_samples']
    assert isinstance(inputs, list) and len(inputs) == 2
    assert inputs[0].shape == (2, 3, 16, 16) and inputs[0].dtype == \
        torch.uint8
    assert inputs[1].shape == (2, 3, 12, 8)
    assert isinstance(data_samples, list) and len(data_samples) == 2
    # view 1 of image 1, channel-first, equals its HWC array
    np.testing.assert_array_equal(inputs[1][1].permute(1, 2, 0).numpy(),
                                  samples[1]['inputs'][1].permute(
                                      1, 2, 0).numpy())
    geom = ViewGeometry.collate([ds.view_geometry for ds in data_samples])
    assert geom.batch_shape == (2, 2)
    assert geom.out_size[:, 1].tolist() == [[8, 12], [8, 12]]
    ds = data_samples[0]
    assert ds.img_path == 'img/a.jpg' and ds.ori_shape == (30, 40)
    assert ds.img_shape == [(16, 16), (12, 8)]
    assert ds.regions['ids'][0].tolist() == [7]
    assert ds.proposals.dtype == torch.float32
    assert ds.proposals.tolist() == [[1, 1, 5, 5]]
    # mmpretrain's multi-view preprocessor takes the batch as is
    pre = SelfSupDataPreprocessor(mean=[0.] * 3, std=[1.] * 3, to_rgb=True)
    data = pre(batch)
    assert [x.shape for x in data['inputs']] == [(2, 3, 16, 16),
                                                 (2, 3, 12, 8)]
    assert data['inputs'][0].dtype == torch.float32


def test_pack_needs_a_list_of_views():
    with pytest.raises(TypeError, match='list of views'):
        PackMultiViewInputs()(dict(img=np.zeros((2, 2, 3), np.uint8)))
