# Copyright (c) mmalfm contributors. All rights reserved.
"""The region probe (mmalfm.evaluation.region_probe and
tools/analysis/region_probe.py): exact probes on hand-built features,
bit-identical repeated runs, an informative representation far above pure
noise, exports / pretraining checkpoints loaded as for fine-tuning, and the
CLI end to end."""
import dataclasses
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from conftest import PYTHON, REPO, run_tool
from mmalfm.evaluation import RegionProbe, RegionProbeError
from mmalfm.evaluation.region_probe import (classification_metrics,
                                            cross_validate, jitter_boxes,
                                            knn_classify, linear_probe,
                                            paired_difference, region_probe,
                                            ridge_fit, ridge_predict,
                                            standardize)
from mmalfm.registry import EVALUATORS

TOOL = 'tools/analysis/region_probe.py'
CLASSES = ('disc', 'square', 'triangle', 'star')


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


# --------------------------------------------------------------------------
# The probes on hand-built features
# --------------------------------------------------------------------------
def test_ridge_fit_equals_hand_computed_solution():
    # x = [-1, 1], classes [0, 1]: A = [[-1, 1], [1, 1]], A^T A / 2 = I,
    # A^T Y / 2 = [[-.5, .5], [.5, .5]]; ridge 1 doubles the weight row's
    # diagonal: W = [[-.25, .25], [.5, .5]] (exact in binary).
    x = torch.tensor([[-1.0], [1.0]])
    y = torch.eye(2)
    w = ridge_fit(x, y, ridge=1.0)
    assert w.dtype == torch.float64
    assert torch.equal(w, torch.tensor([[-0.25, 0.25], [0.5, 0.5]],
                                       dtype=torch.float64))
    assert torch.equal(ridge_predict(torch.tensor([[2.0]]), w),
                       torch.tensor([[0.0, 1.0]], dtype=torch.float64))


def test_ridge_fit_matches_least_squares_and_normal_equations():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    a = torch.cat([x, torch.ones(30, 1, dtype=torch.float64)], 1).numpy()
    # ridge 0: ordinary least squares with a bias.
    ols = np.linalg.lstsq(a, y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(ridge_fit(x, y, 0.0).numpy(), ols, rtol=0,
                               atol=1e-12)
    # ridge 0.5: (A^T A / N + 0.5 diag(1, 1, 1, 0)) W = A^T Y / N.
    lhs = a.T @ a / 30 + np.diag([0.5, 0.5, 0.5, 0.0])
    expected = np.linalg.inv(lhs) @ (a.T @ y.numpy() / 30)
    np.testing.assert_allclose(ridge_fit(x, y, 0.5).numpy(), expected,
                               rtol=0, atol=1e-12)


def test_linear_probe_separates_separable_classes():
    # Three 2-D clusters around (0, 4), (4, 0), (-4, -4).
    centres = torch.tensor([[0.0, 4.0], [4.0, 0.0], [-4.0, -4.0]])
    offsets = torch.tensor([[0.5, 0.0], [-0.5, 0.0], [0.0, 0.5],
                            [0.0, -0.5]])
    train_x = (centres[:, None] + offsets[None]).reshape(-1, 2)
    train_y = torch.arange(3).repeat_interleave(4)
    val_x = torch.tensor([[0.3, 3.0], [3.0, 0.2], [-3.0, -3.5], [0.1, 5.0]])
    val_y = torch.tensor([0, 1, 2, 0])
    tx, vx = standardize(train_x, val_x)
    pred = linear_probe(tx, train_y, vx, 3, ridge=1e-2)
    assert pred.tolist() == val_y.tolist()
    metrics = classification_metrics(pred, val_y, 4)
    assert metrics == dict(acc=100.0, mean_class_acc=100.0,
                           per_class_acc=[100.0, 100.0, 100.0, None])
    # A wrong prediction of class 1 (of 1 val box): mean-class 200/3.
    metrics = classification_metrics(torch.tensor([0, 0, 2, 0]), val_y, 3)
    assert metrics['acc'] == 75.0
    assert metrics['mean_class_acc'] == pytest.approx(200 / 3, abs=1e-12)


def test_standardize_uses_train_statistics_and_zeroes_constant_dims():
    train = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 2.0]])
    val = torch.tensor([[2.0, 7.0, 9.0]])
    tx, vx = standardize(train, val)
    assert torch.equal(tx, torch.tensor([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
                                        dtype=torch.float64))
    assert torch.equal(vx, torch.tensor([[0.0, 0.0, 0.0]],
                                        dtype=torch.float64))


def _unit(degrees):
    rad = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    return torch.from_numpy(np.stack([np.cos(rad), np.sin(rad)], 1))


def test_knn_known_answer_and_deterministic_ties():
    # Train on the unit circle (degrees -> class); the length of a vector
    # does not matter (cosine).
    train_x = _unit([0, 10, 20, 90, 100, 180]) * torch.tensor(
        [[1.0], [2.0], [3.0], [1.0], [5.0], [1.0]], dtype=torch.float64)
    train_y = torch.tensor([0, 0, 1, 1, 1, 2])
    query = _unit([5, 95, 170, 55])
    # k=3 nearest: 5 deg -> 0, 10, 20 (votes 0 0 1) -> 0; 95 deg -> 90,
    # 100, 20 (1 1 1) -> 1; 170 deg -> 180, 100, 90 (2 1 1) -> 1; 55 deg ->
    # 20, 90, then 10 or 100 (1 1 0|1) -> 1.
    assert knn_classify(train_x, train_y, query, 3, 3).tolist() == \
        [0, 1, 1, 1]
    # k=1: the class of the nearest one.
    assert knn_classify(train_x, train_y, query, 1, 3).tolist() == \
        [0, 1, 2, 1]
    # A vote tie with equal summed similarity (exactly 1/sqrt(2) each) goes
    # to the lowest class, not to the first train vector.
    axes = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    diagonal = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    assert knn_classify(axes, torch.tensor([1, 0]), diagonal, 2,
                        2).tolist() == [0]
    # A vote tie (2 : 2) goes to the larger summed similarity: class 1 has
    # the nearest vector (1.0 + 0.0), class 0 the larger sum (0.8 + 0.6).
    four = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]],
                        dtype=torch.float64)
    assert knn_classify(four, torch.tensor([1, 1, 0, 0]),
                        torch.tensor([[1.0, 0.0]], dtype=torch.float64), 4,
                        2).tolist() == [0]
    # Equal similarities are taken in train order: duplicate points.
    dup_x = _unit([0, 0, 0])
    dup_y = torch.tensor([2, 1, 1])
    assert knn_classify(dup_x, dup_y, _unit([0]), 1, 3).tolist() == [2]
    assert knn_classify(dup_x, dup_y, _unit([0]), 3, 3).tolist() == [1]
    # k larger than the train set: all of it.
    assert knn_classify(dup_x, dup_y, _unit([0]), 50, 3).tolist() == [1]


def test_cross_validate_holds_out_whole_images_in_sorted_order():
    # Groups (images) 7, 3, 5, 3, 9, 7 sorted -> 3, 5, 7, 9 -> folds 0, 1,
    # 0, 1 with 2 folds: fold 0 = boxes of images 3 and 7 = rows 0, 1, 3, 5.
    groups = torch.tensor([7, 3, 5, 3, 9, 7])
    x = torch.tensor([[0.0, 1.0], [1.0, 0.2], [0.1, 1.0], [1.0, 0.0],
                      [0.9, 0.1], [0.2, 0.9]], dtype=torch.float64)
    y = torch.tensor([1, 0, 1, 0, 0, 1])
    linear, knn = cross_validate(x, y, groups, 2, 2, 0.1, 1)
    expected_lin = torch.empty_like(y)
    expected_knn = torch.empty_like(y)
    for test in ([0, 1, 3, 5], [2, 4]):
        train = [i for i in range(6) if i not in test]
        tx, vx = standardize(x[train], x[test], drop_constant=True)
        expected_lin[test] = linear_probe(tx, y[train], vx, 2, 0.1)
        expected_knn[test] = knn_classify(tx, y[train], vx, 1, 2)
    assert linear.tolist() == expected_lin.tolist()
    assert knn.tolist() == expected_knn.tolist()
    # Never fitted on its own image: rows 0 and 1 (image 3, labels 0 and 1)
    # are predicted from rows 2 and 3 alone. Standardised on those two, the
    # second dimension is constant (dropped) and the first is -1 / +1, so
    # both test rows (x0 = 1 -> +199) are nearest to row 3 (label 1): [1, 1]
    # where a probe that had seen them would answer their labels [0, 1].
    twin_x = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0],
                           [0.01, 1.0]], dtype=torch.float64)
    twin_y = torch.tensor([0, 1, 0, 1])
    _, twin_knn = cross_validate(twin_x, twin_y, torch.tensor([3, 3, 4, 5]),
                                 3, 2, 0.1, 1)
    assert twin_knn[:2].tolist() == [1, 1]
    with pytest.raises(RegionProbeError, match='3 images for 4'):
        cross_validate(twin_x, twin_y, torch.tensor([3, 3, 4, 5]), 4, 2,
                       0.1, 1)


def test_paired_difference_hand_computed():
    # a - b per box: 0, +1, -1, 0, +1 -> mean 0.2, population std
    # sqrt((0.04 * 2 + 0.64 * 2 + 1.44) / 5) = sqrt(0.56), SE = std / sqrt 5.
    mean, se = paired_difference('11010', '10100')
    assert mean == pytest.approx(20.0)
    assert se == pytest.approx(100 * 0.56**0.5 / 5**0.5)
    # Identical predictions: no difference and no noise.
    assert paired_difference('0110', '0110') == (0.0, 0.0)
    with pytest.raises(RegionProbeError, match='same boxes'):
        paired_difference('01', '011')


def test_jitter_boxes_depend_on_image_id_only():
    boxes = torch.tensor([[10.0, 10.0, 50.0, 30.0], [0.0, 0.0, 5.0, 5.0]])
    a = jitter_boxes(boxes, (64, 64), img_id=7, num=3)
    assert a.shape == (6, 4)
    assert torch.equal(a, jitter_boxes(boxes, (64, 64), img_id=7, num=3))
    assert not torch.equal(a, jitter_boxes(boxes, (64, 64), img_id=8, num=3))
    # Inside the image, at least 1 px, near the original.
    assert (a[:, 0] >= 0).all() and (a[:, 2] <= 64).all()
    assert ((a[:, 2:] - a[:, :2]) >= 1).all()
    assert (abs(a[:3] - boxes[0]) < 20).all()


# --------------------------------------------------------------------------
# The pipeline on images
# --------------------------------------------------------------------------
def probe_kwargs(root, **kw):
    return dict(data_root=root, image_scale=(128, 96), **kw)


def test_registered_and_two_runs_are_bit_identical(tiny_demo_data):
    probe = EVALUATORS.build(
        dict(type='RegionProbe', **probe_kwargs(tiny_demo_data)))
    assert isinstance(probe, RegionProbe)
    first = probe()
    second = probe()
    assert first == second
    assert region_probe(None, **probe_kwargs(tiny_demo_data)) == first
    assert first['init'] == 'random' and first['init_kind'] == 'random'
    # No neck in a random init: backbone C2-C5 in the block layout, 7x7
    # bins flattened.
    assert first['features'] == 'backbone' and first['pool'] == 'flatten'
    assert first['levels'] == ['C2', 'C3', 'C4', 'C5']
    assert first['feature_dim'] == (16 + 32 + 64 + 128) * 49
    with open(osp.join(tiny_demo_data, 'coco', 'annotations',
                       'instances_train2017.json')) as f:
        anns = json.load(f)['annotations']
    assert first['num_train_boxes'] == len(anns)
    assert sum(first['train_boxes_per_level']) == len(anns)
    assert first['num_train_images'] == 12 and first['num_val_images'] == 4
    assert 0 <= first['linear_acc'] <= 100
    assert 0 < first['box_iou_jittered'] < 1
    # Cross-validation over all boxes (5 folds of the 16 images).
    assert first['cv_folds'] == 5
    assert first['cv_num_boxes'] == len(anns) + first['num_val_boxes']
    assert len(first['cv_linear_correct']) == first['cv_num_boxes']
    assert first['cv_linear_acc'] == pytest.approx(
        100 * first['cv_linear_correct'].count('1') / first['cv_num_boxes'])
    # Another initialisation seed: other features, other fingerprint.
    other = RegionProbe(**probe_kwargs(tiny_demo_data), init_seed=1)()
    assert other['features_sha256'] != first['features_sha256']


def test_all_levels_concatenates_every_level(tiny_demo_data):
    kwargs = probe_kwargs(tiny_demo_data, box_regression=False, folds=0)
    assigned = RegionProbe(**kwargs).extract()
    every = RegionProbe(**kwargs, levels='all').extract()
    widths = [16 * 49, 32 * 49, 64 * 49, 128 * 49]
    assert every.train.feats.shape[1] == sum(widths)
    # The block of the assigned level is the block-layout vector itself.
    offsets = np.cumsum([0] + widths)
    for row, lvl in enumerate(assigned.train.levels.tolist()):
        block = slice(offsets[lvl], offsets[lvl + 1])
        assert torch.equal(every.train.feats[row, block],
                           assigned.train.feats[row, block])
    assert 'cv_linear_acc' not in RegionProbe(**kwargs).evaluate(assigned)
    with pytest.raises(RegionProbeError, match='levels'):
        RegionProbe(**kwargs, levels='some')
    with pytest.raises(RegionProbeError, match='folds'):
        RegionProbe(**dict(kwargs, folds=1))


def write_colour_coco(root, moved=False, num_train=10, num_val=6, size=64,
                      seed=0):
    """A COCO data set whose class is the colour of a flat 16 px square on a
    noise background (informative for any feature that sees the box).

    With ``moved`` every box is moved by 20 px vertically off its square
    (onto noise only; the other squares are in other columns)."""
    rng = np.random.default_rng(seed)
    colours = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0],
                        [255, 255, 255]])  # BGR: red, green, blue, white
    ann_dir = root / 'coco' / 'annotations'
    ann_dir.mkdir(parents=True)
    ann_id, img_id = 1, 1
    for split, num in (('train', num_train), ('val', num_val)):
        img_dir = root / 'coco' / f'{split}2017'
        img_dir.mkdir()
        images, anns = [], []
        for _ in range(num):
            img = rng.integers(0, 120, (size, size, 3)).astype(np.uint8)
            for slot in range(3):  # three squares side by side
                cls = int(rng.integers(0, 4))
                x, y, s = 4 + slot * 20, int(rng.integers(4, 40)), 16
                img[y:y + s, x:x + s] = colours[cls]
                if moved:
                    y = y + 20 if y < 28 else y - 20
                anns.append(dict(id=ann_id, image_id=img_id,
                                 category_id=cls + 1,
                                 bbox=[x, y, s, s], area=s * s, iscrowd=0))
                ann_id += 1
            name = f'{img_id:06d}.png'
            assert cv2.imwrite(str(img_dir / name), img)
            images.append(dict(id=img_id, file_name=name, width=size,
                               height=size))
            img_id += 1
        (ann_dir / f'instances_{split}2017.json').write_text(json.dumps(
            dict(images=images, annotations=anns,
                 categories=[dict(id=i + 1, name=c)
                             for i, c in enumerate(CLASSES)])))
    return str(root)


def test_informative_features_far_above_noise(tmp_path):
    # 64 px images resized to 128: boxes left in original pixels (MMDet's
    # test pipeline loads them after Resize) would miss the squares.
    kwargs = dict(image_scale=(128, 128), k=5, box_regression=False)
    probe = RegionProbe(
        data_root=write_colour_coco(tmp_path / 'on'), **kwargs)
    regions = probe.extract()
    assert regions.train.feats.shape == (30, 240 * 49)
    real = probe.evaluate(regions)
    # Pure noise of the same shape: no information about the boxes.
    gen = torch.Generator().manual_seed(0)

    def noise(split):
        return dataclasses.replace(
            split, feats=torch.randn(split.feats.shape, generator=gen))

    fake = probe.evaluate(dataclasses.replace(
        regions, train=noise(regions.train), val=noise(regions.val)))
    # The colour of a box is linearly readable from (even random) conv
    # features pooled at the right place; noise stays near chance.
    assert real['linear_acc'] >= 90 and real['knn_acc'] >= 90
    assert fake['linear_acc'] <= 60 and fake['knn_acc'] <= 60
    assert real['linear_acc'] - fake['linear_acc'] >= 40
    # The same images with the boxes moved off the squares: the probe
    # measures what is *in* the box, so it drops towards chance.
    off = RegionProbe(
        data_root=write_colour_coco(tmp_path / 'off', moved=True),
        **kwargs)()
    assert off['linear_acc'] <= 60
    assert real['linear_acc'] - off['linear_acc'] >= 40


def _random_detector_state(probe, tmp_path, seed, prefixes):
    """The ``prefixes`` tensors of ``probe``'s detector initialised with
    ``seed`` (what an export of such a model holds)."""
    source = RegionProbe(detector_config=probe.detector_config,
                         init_seed=seed)
    model, _, _ = source._build_model(source._config(), None, str(tmp_path))
    return {k: v for k, v in model.state_dict().items()
            if k.startswith(prefixes)}


def test_export_with_neck_probes_fpn_and_loads_the_weights(
        tiny_demo_data, tmp_path):
    kwargs = probe_kwargs(tiny_demo_data, box_regression=False)
    probe = RegionProbe(**kwargs)
    state = _random_detector_state(probe, tmp_path, 1,
                                       ('backbone.', 'neck.'))
    export = tmp_path / 'export.pth'
    torch.save(dict(state_dict=state, meta=dict(mmalfm_export=dict())),
               str(export))
    loaded = probe(str(export))
    assert loaded['init_kind'] == 'export'
    assert loaded['features'] == 'fpn' and loaded['feature_dim'] == 64 * 49
    assert loaded['levels'] == ['P2', 'P3', 'P4', 'P5']
    assert set(loaded['loaded']) == {'backbone', 'neck'}
    # Loading the seed-1 weights = initialising with seed 1: the same
    # features bit for bit, so the same numbers.
    seeded = RegionProbe(**kwargs, init_seed=1, features='fpn')()
    assert loaded['features_sha256'] == seeded['features_sha256']
    for key in ('linear_acc', 'knn_acc', 'linear_per_class_acc'):
        assert loaded[key] == seeded[key]

    # A pretraining checkpoint (EMA target, projector, stored config) is
    # exported in memory with the FPN of its method: the same features.
    train_state = dict(state)
    train_state.update({'target_net.' + k: v.clone()
                        for k, v in state.items()})
    train_state['projector.fc.weight'] = torch.zeros(2, 2)
    pretrain = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=train_state,
                    meta=dict(cfg="model = dict(type='mmalfm.SoCo')\n")),
               str(pretrain))
    from_pretrain = probe(str(pretrain))
    assert from_pretrain['init_kind'] == 'pretraining'
    assert from_pretrain['features_sha256'] == loaded['features_sha256']

    # A backbone-only export is probed on C2-C5; an export that does not fit
    # the detector is refused.
    bb = tmp_path / 'backbone.pth'
    torch.save(dict(state_dict={k: v for k, v in state.items()
                                if k.startswith('backbone.')}), str(bb))
    assert probe(str(bb))['features'] == 'backbone'
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1)}),
               str(bad))
    with pytest.raises(KeyError, match='does not fit'):
        probe(str(bad))


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------
EXPECTED_KEYS = {
    'init', 'init_kind', 'features', 'levels', 'feature_dim', 'classes',
    'num_train_images', 'num_val_images', 'num_train_boxes',
    'num_val_boxes', 'linear_acc', 'linear_mean_class_acc',
    'linear_per_class_acc', 'knn_acc', 'knn_k', 'chance_acc',
    'box_iou_jittered', 'box_iou_refined', 'features_sha256', 'pool',
    'detector_config', 'timing'
}


def test_cli_random_init_end_to_end(tiny_demo_data, tmp_path):
    out = tmp_path / 'probe.json'
    proc = run_tool([
        PYTHON, TOOL, 'random', '--data-root', tiny_demo_data, '--scale',
        '128', '96', '--k', '5', '--json', str(out)
    ])
    assert 'linear accuracy (%)' in proc.stdout
    assert 'kNN accuracy (%, k=5)' in proc.stdout
    result = json.loads(out.read_text())
    assert EXPECTED_KEYS <= set(result)
    assert result['init'] == 'random' and result['knn_k'] == 5
    assert result['classes'] == list(CLASSES)
    assert result['num_val_images'] == 4
    assert set(result['timing']) == {'setup', 'features', 'probe', 'total'}
    # The same run in-process: the same numbers.
    same = RegionProbe(**probe_kwargs(tiny_demo_data), k=5)()
    assert {k: result[k] for k in same} == json.loads(json.dumps(same))


def test_cli_bad_inputs(tiny_demo_data, tmp_path, capsys):
    from mmalfm.evaluation import region_probe_cli as tool
    assert tool.main([str(tmp_path / 'missing.pth')]) == 1
    assert 'checkpoint not found' in capsys.readouterr().err
    assert tool.main(['random', '--data-root', str(tmp_path)]) == 1
    assert 'make_demo_data.py' in capsys.readouterr().err
    with pytest.raises(RegionProbeError):
        RegionProbe(features='roi')
    with pytest.raises(RegionProbeError):
        RegionProbe(pool='max')
    # A detector config: what its init_cfg loads, here a missing export.
    config = osp.join(REPO, 'configs', 'benchmarks', 'mmdetection', 'demo',
                      'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')
    missing = str(tmp_path / 'no_export.pth')
    assert tool.main([
        config, '--data-root', tiny_demo_data, '--cfg-options',
        f'model.init_cfg.checkpoint={missing}'
    ]) == 1
    err = capsys.readouterr().err
    assert missing in err and 'export_to_mmdet.py' in err


#: Backbone + FPN of the demo detector trained with labels from random init
#: (240 demo train images, 960 iterations, AP 32.9 on the demo val images),
#: stored in float16 (1.8 MB): a representation known to be better than
#: random init.
TRAINED = osp.join(REPO, 'tests', 'data', 'checkpoints',
                   'demo_detector_supervised_r18q-fpn_fp16.pth')


def test_random_init_clearly_below_a_trained_export(tmp_path):
    """On the full demo data, the cross-validated probe puts a trained
    backbone + FPN far above random init, box by box (paired): more than
    four standard errors for both the linear and the kNN probe (measured
    +12.4 +- 1.8 and +21.8 +- 1.9 points)."""
    from mmalfm.apis.demo_data import make_demo_data
    make_demo_data(tmp_path / 'demo')
    probe = RegionProbe(data_root=str(tmp_path / 'demo'), features='fpn',
                        box_regression=False)
    random_init = probe()
    trained = probe(TRAINED)
    assert trained['loaded'] == dict(backbone=120, neck=48)
    assert random_init['cv_num_boxes'] == trained['cv_num_boxes'] == 1032
    for kind in ('linear', 'knn'):
        diff, se = paired_difference(trained[f'cv_{kind}_correct'],
                                     random_init[f'cv_{kind}_correct'])
        assert diff > 4 * se and diff > 8, (kind, diff, se)
