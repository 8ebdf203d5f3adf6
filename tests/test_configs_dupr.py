# Copyright (c) mmalfm contributors. All rights reserved.
"""Every config in configs/dupr parses and builds its model."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.models import DUPR
from mmalfm.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / 'configs' / 'dupr').glob('*.py'))


def test_configs_exist():
    names = {p.name for p in CONFIGS}
    assert {
        'dupr_resnet50_8xb32-coslr-200e_in1k.py',
        'dupr_resnet50-fpn_8xb32-coslr-200e_in1k.py',
        'dupr_resnet50_8xb32-coslr-200e_coco.py',
        'dupr_resnet18q_1xb8-coslr-10e_demo.py',
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmalfm'
    # the queues' sizes do not change the model's structure: keep the
    # R50 builds light
    cfg.model.heads.moco.head.queue_len = 16
    cfg.model.heads.reid.patch_queue_len = 16
    with DefaultScope.overwrite_default_scope('mmalfm'):
        model = MODELS.build(cfg.model)
    assert isinstance(model, DUPR)
    assert list(model.heads) == ['moco', 'reid']
    reid = model.heads.reid
    assert len(reid.patch_necks) == len(reid.levels) == 3
    names = reid.level_names
    assert names == (['p3', 'p4', 'p5'] if model.with_neck else
                     ['c3', 'c4', 'c5'])
    sampler = cfg.train_dataloader.dataset.pipeline[1].region_sampler
    assert sampler.type == 'DUPRGridSampler' and sampler.min_overlap == 0.1
    assert cfg.train_dataloader.dataset.pipeline[1].max_tries == 10
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    batch = cfg.train_dataloader.batch_size * (8 if '8xb' in path.name else 1)
    boost = 8 if 'demo' in path.name else 1  # the demo's 8x (README)
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(
        0.03 * batch / 256 * boost)
