# Copyright (c) mmalfm contributors. All rights reserved.
"""Every config in configs/crosscl parses and builds its model."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
from mmalfm.models import CrossCL
from mmalfm.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / 'configs' / 'crosscl').glob('*.py'))


def test_there_are_crosscl_configs():
    names = {p.name for p in CONFIGS}
    assert {
        'crosscl_resnet50_8xb32-coslr-200e_in1k.py',
        'crosscl_resnet50_8xb32-coslr-400e_in1k.py',
        'crosscl_resnet50_8xb32-coslr-800e_coco.py',
        'crosscl_resnet18q_1xb8-coslr-10e_demo.py'
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(str(path))
    model_cfg = cfg.model
    model_cfg.heads.moco.head.queue_len = 16  # keep the build cheap
    with DefaultScope.overwrite_default_scope('mmalfm'):
        model = MODELS.build(model_cfg)
    assert isinstance(model, CrossCL)
    assert list(model.heads) == ['moco', 'region']
    # the sampler and the model agree on the view size (the grid is the
    # sampler's alone)
    sampler = cfg.train_pipeline[1]['region_sampler'] if 'train_pipeline' \
        in cfg else cfg.train_dataloader.dataset.pipeline[1]['region_sampler']
    assert sampler['view_size'] == model.heads.region.view_size
    assert not hasattr(model, 'window')
    sched = cfg.param_scheduler
    assert [s['type'] for s in sched] == ['CosineAnnealingLR']
    assert sched[0]['by_epoch'] and not sched[0].get('convert_to_iter_based')
    demo = 'demo' in path.name
    batch = cfg.train_dataloader.batch_size * (1 if demo else 8)
    base = 0.3 if 'coco' in path.name else 0.03
    boost = 8 if demo else 1  # the demo's 8x linear scaling (README)
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(
        base * batch / 256 * boost)
