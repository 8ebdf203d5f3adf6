# Copyright (c) mmalfm contributors. All rights reserved.
"""Every released config loads, builds its model and names only types that
resolve in the mmalfm scope."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
import mmalfm.registry as alfm_registry

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / 'configs'
CONFIGS = sorted(
    str(path.relative_to(REPO)) for path in CONFIG_DIR.rglob('*.py')
    if '_base_' not in path.relative_to(CONFIG_DIR).parts
    # MMDetection-scoped fine-tuning configs: tests/test_benchmark_configs.py
    and path.relative_to(CONFIG_DIR).parts[0] != 'benchmarks')

DEMO = 'configs/byol/byol_resnet18_1xb16-10e_demo.py'
BYOL_IN1K = 'configs/byol/byol_resnet50_8xb64-coslr-400e_in1k.py'
BYOL_COCO = 'configs/byol/byol_resnet50_8xb64-coslr-800e_coco.py'


@pytest.fixture(scope='module')
def configs() -> dict:
    return {path: Config.fromfile(str(REPO / path)) for path in CONFIGS}


@pytest.fixture
def mmalfm_scope():
    with DefaultScope.overwrite_default_scope('mmalfm'):
        yield


def _types(node, where):
    """Yield ``(where, type)`` for every ``type`` key nested in ``node``."""
    if isinstance(node, dict):
        if 'type' in node:
            yield where, node['type']
        for key, value in node.items():
            if key != 'type':
                yield from _types(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _types(value, f'{where}[{index}]')


def _assert_resolves(registry, where, type_name):
    assert isinstance(type_name, str), (where, type_name)
    try:
        found = registry.get(type_name)
    except Exception as err:  # MMEngine raises for unknown dotted names
        found = err
    assert found is not None and not isinstance(found, Exception), (
        f'{where}: {type_name!r} does not resolve in the mmalfm '
        f'{registry.name!r} registry ({found!r})')


def test_configs_are_found():
    assert DEMO in CONFIGS and BYOL_IN1K in CONFIGS and BYOL_COCO in CONFIGS
    assert not any('_base_' in path for path in CONFIGS)


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loads_in_our_scope(configs, path):
    cfg = configs[path]
    assert cfg.default_scope == 'mmalfm'
    for key in ('model', 'train_dataloader', 'optim_wrapper', 'train_cfg',
                'param_scheduler', 'default_hooks'):
        assert key in cfg, key


@pytest.mark.parametrize('path', CONFIGS)
def test_model_builds(configs, path, mmalfm_scope):
    from mmpretrain.models import BYOL, BaseSelfSupervisor
    cfg = configs[path]
    model = alfm_registry.MODELS.build(cfg.model)
    assert isinstance(model, BaseSelfSupervisor)
    if path.startswith('configs/byol/'):
        assert type(model) is BYOL
    norm = model.backbone.norm1
    if getattr(model, 'shuffle_bn', False):
        # MoCo-style ShuffleBN (CrossCL): per-GPU BN over shuffled keys.
        assert type(norm) is torch.nn.BatchNorm2d
    else:
        # Released configs keep SyncBN (the CPU fallback swaps it at launch).
        assert isinstance(norm, torch.nn.SyncBatchNorm)
    expected_depth = 18 if path.endswith('_demo.py') else 50
    assert model.backbone.depth == expected_depth


@pytest.mark.parametrize('path', CONFIGS)
def test_train_dataloader_types_resolve(configs, path, mmalfm_scope):
    loader = configs[path].train_dataloader
    dataset = loader['dataset']
    _assert_resolves(alfm_registry.DATASETS, 'dataset', dataset['type'])
    # ProposalDataset (SoCo) wraps the image dataset
    wrapped = alfm_registry.DATASETS.get(dataset['type']) is \
        alfm_registry.DATASETS.get('ProposalDataset')
    images = dataset['dataset'] if wrapped else dataset
    assert alfm_registry.DATASETS.get(images['type']) is \
        alfm_registry.DATASETS.get('UnlabeledImageDataset')
    pipeline = list(_types(dataset.get('pipeline', []), 'pipeline'))
    assert len(pipeline) >= 5  # nested MultiView / RandomApply entries too
    names = {name for _, name in pipeline}
    assert 'ColorJitter' in names
    # Every method, the BYOL baseline included, decodes with
    # LoadImageWithCheck (corrupt images named, skipped and counted; EXIF
    # ignored as by the selective-search tool, so proposals align).
    assert 'LoadImageWithCheck' in names and 'LoadImageFromFile' not in names
    assert 'MultiView' in names or 'MultiViewCrop' in names
    assert names >= {'MultiView', 'RandomResizedCrop', 'PackInputs'} or \
        names >= {'MultiViewCrop', 'ViewPipelines', 'PackMultiViewInputs'}
    for where, name in pipeline:
        registry = alfm_registry.TASK_UTILS if where.endswith(
            '.region_sampler') else alfm_registry.TRANSFORMS
        _assert_resolves(registry, where, name)
    other = [(w, t) for w, t in _types(dataset, 'dataset')
             if not w.startswith('dataset.pipeline')]
    expected = [('dataset', dataset['type'])]
    if wrapped:
        expected.append(('dataset.dataset', images['type']))
    assert other == expected
    _assert_resolves(alfm_registry.DATA_SAMPLERS, 'sampler',
                     loader['sampler']['type'])
    if 'collate_fn' in loader:
        _assert_resolves(alfm_registry.FUNCTIONS, 'collate_fn',
                         loader['collate_fn']['type'])
    # No other typed entry hides in the loader.
    stray = [(w, t) for w, t in _types(loader, 'loader')
             if not w.startswith(('loader.dataset', 'loader.sampler',
                                  'loader.collate_fn'))]
    assert stray == [], stray


@pytest.mark.parametrize('path', CONFIGS)
def test_runtime_types_resolve(configs, path, mmalfm_scope):
    cfg = configs[path]
    checks = [
        (alfm_registry.OPTIM_WRAPPERS, 'optim_wrapper', cfg.optim_wrapper),
        (alfm_registry.OPTIMIZERS, 'optimizer', cfg.optim_wrapper.optimizer),
        (alfm_registry.PARAM_SCHEDULERS, 'param_scheduler',
         cfg.param_scheduler),
        (alfm_registry.HOOKS, 'default_hooks', cfg.default_hooks),
        (alfm_registry.VISBACKENDS, 'vis_backends', cfg.vis_backends),
    ]
    if cfg.get('custom_hooks'):
        checks.append(
            (alfm_registry.HOOKS, 'custom_hooks', cfg.custom_hooks))
    for registry, where, node in checks:
        if where == 'optim_wrapper':
            found = [(where, node['type'])]
        else:
            found = list(_types(node, where))
        assert found, where
        for w, name in found:
            _assert_resolves(registry, w, name)
    _assert_resolves(alfm_registry.VISUALIZERS, 'visualizer',
                     cfg.visualizer['type'])
    train_type = cfg.train_cfg.get('type', 'EpochBasedTrainLoop')
    _assert_resolves(alfm_registry.LOOPS, 'train_cfg', train_type)


# --------------------------------------------------------------------------
# Data locations and schedules
# --------------------------------------------------------------------------
def test_demo_config_data(configs):
    dataset = configs[DEMO].train_dataloader.dataset
    assert dataset.data_root == 'data/demo/coco/'
    assert dataset.ann_file == 'annotations/instances_train2017.json'
    assert dataset.data_prefix == dict(img_path='train2017/')


def test_in1k_config_data(configs):
    dataset = configs[BYOL_IN1K].train_dataloader.dataset
    assert dataset.data_root == 'data/imagenet/'
    assert dataset.ann_file == 'meta/train.txt'
    assert dataset.data_prefix == dict(img_path='train/')


def test_coco_config_data(configs):
    dataset = configs[BYOL_COCO].train_dataloader.dataset
    assert dataset.data_root == 'data/coco/'
    assert dataset.ann_file == 'annotations/instances_train2017.json'
    assert dataset.data_prefix == dict(img_path='train2017/')


@pytest.mark.parametrize('path', [BYOL_IN1K, BYOL_COCO])
def test_full_scale_byol_schedule(configs, path):
    cfg = configs[path]
    assert cfg.optim_wrapper.optimizer.type == 'LARS'
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(4.8 * 512 / 4096)
    assert cfg.auto_scale_lr.base_batch_size == 512
    # 8 GPUs x 64 images = the base batch size.
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    epochs = 400 if path == BYOL_IN1K else 800
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 10
    assert cosine.type == 'CosineAnnealingLR'
    assert (cosine.begin, cosine.end, cosine.T_max) == (10, epochs,
                                                        epochs - 10)


def test_demo_schedule(configs):
    cfg = configs[DEMO]
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.max_epochs == 10
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, cosine.begin, cosine.end, cosine.T_max) == (1, 1, 10,
                                                                    9)


def test_demo_config_dataset_matches_the_generated_layout(
        configs, tmp_path, mmalfm_scope):
    """The demo config's dataset and pipeline run on ``make_demo_data``
    output (only ``data_root`` redirected to a temporary copy)."""
    from mmalfm.apis.demo_data import make_demo_data
    info = make_demo_data(
        tmp_path / 'demo', num_train=3, num_val=1, seed=0, min_size=32,
        max_size=40)
    dataset_cfg = configs[DEMO].train_dataloader.dataset.copy()
    dataset_cfg['data_root'] = info['coco_root'] + '/'
    dataset = alfm_registry.DATASETS.build(dataset_cfg)
    assert len(dataset) == 3
    item = dataset[0]
    views = item['inputs']
    assert len(views) == 2
    for view in views:
        assert tuple(view.shape) == (3, 96, 96)
