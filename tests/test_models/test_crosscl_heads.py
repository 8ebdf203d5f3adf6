# Copyright (c) mmalfm contributors. All rights reserved.
"""CrossCL on the heads (``heads.moco``: MoCoGlobalHead, ``heads.region``:
CrossStageRegionHead): the flat layout still builds and still loads, the
build errors name the keys, and the pooled last stage changes nothing."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from flat_layout import (assert_loads_strictly, build_seeded, equal_states,
                         old_state, recorded_model)
from test_regression_fixtures import (SEED, BackwardOnly, _isolated,
                                      _message_hub)
from test_regression_fixtures import make_batch as fixture_batch

import mmalfm  # noqa: F401
from mmalfm.models import CrossCL

REPO = Path(__file__).resolve().parents[2]
TINY = 'tests/data/configs/crosscl_tiny.py'


def _tiny() -> Config:
    return Config.fromfile(str(REPO / TINY))


def test_flat_config_builds_the_same_model():
    """The flat model config recorded before the heads builds (with a
    deprecation warning naming the new paths) the model of today's tiny
    config: same keys, same values."""
    flat = recorded_model(TINY)
    assert 'heads' not in flat and 'global_neck' in flat
    with pytest.warns(DeprecationWarning) as record:
        old = build_seeded(flat)
    msg = ' '.join(str(w.message) for w in record)
    for key, path in (('global_neck', 'heads.moco.neck'),
                      ('global_head', 'heads.moco.head'),
                      ('loss', 'heads.region.loss'),
                      ('view_size', 'heads.region.view_size'),
                      ('prroi_impl', 'heads.region.prroi_impl')):
        assert f'model.{key} -> model.{path}' in msg, key
    assert list(old.heads) == ['moco', 'region']
    equal_states(old, build_seeded(_tiny().model))


def test_old_checkpoint_keys_load():
    """A state dict with the flat layout's keys (``global_neck.*``,
    ``global_head.*`` with the queue, ``target_net.module.global_neck.*``)
    loads strictly into today's model, through MMEngine's loader too."""
    model_cfg = _tiny().model
    source = build_seeded(model_cfg)
    state = old_state(source)
    assert {k.split('.')[0] for k in state} == {
        'backbone', 'neck', 'global_neck', 'global_head', 'target_net'
    }
    assert 'global_head.queue.queue' in state
    assert any(k.startswith('target_net.module.global_neck.')
               for k in state)
    assert_loads_strictly(model_cfg, source, state)


def test_flat_override_updates_the_head():
    """A flat key on today's config (``--cfg-options model.<key>=...``)
    updates the head at its new path."""
    cfg = _tiny().model
    cfg.loss_weights = dict(p3_p4=0.5)
    with pytest.warns(DeprecationWarning, match='loss_weights'):
        model = build_seeded(cfg)
    assert model.heads.region.loss_weights == dict(
        p4=1., p3=1., p4_p3=1., p3_p4=0.5)
    assert model.heads.region.view_size == 48


def test_build_errors_name_the_keys():
    cfg = _tiny().model
    with pytest.raises(ValueError, match=r'CrossCL needs model\.neck '
                       r'\(PartialFPN\)'):
        build_seeded(dict(cfg, neck=None))
    with pytest.raises(ValueError, match=r'CrossCL needs model\.heads: '
                       r"moco=dict\(type='MoCoGlobalHead'"):
        build_seeded(dict(cfg, heads=None))
    with pytest.raises(ValueError, match='CrossCL needs a momentum encoder'):
        build_seeded(dict(cfg, target_ema=None))
    with pytest.raises(ValueError, match=r'model\.heads\.region\.'
                       'loss_weights: unknown terms'):
        build_seeded(dict(cfg, heads=dict(cfg.heads, region=dict(
            cfg.heads.region, loss_weights=dict(p5=1.)))))


def test_pooled_last_stage_and_region_head_alone(tmp_path):
    """``encode`` returns P3, P4 and avgpool(C5) ``[B, C5, 1, 1]``, whose
    global embedding equals the one of the whole C5 map; without
    ``heads.moco`` the region head still gets its EMA target."""
    cfg = _tiny()
    with _isolated(SEED), _message_hub(cfg.train_cfg.max_iters):
        batch = fixture_batch(cfg, tmp_path)
        model = build_seeded(cfg.model)
        x = torch.randn(2, 3, 48, 48)
        p3, p4, c5 = model.encode(x)
        assert p3.shape == (2, 16, 6, 6) and p4.shape == (2, 16, 3, 3)
        assert c5.shape == (2, 64, 1, 1)
        neck = model.heads.moco.neck
        full = model.backbone(x)[-1]
        assert full.shape[-1] > 1
        torch.testing.assert_close(neck((c5, ))[0], neck((full, ))[0])
        region_only = dict(cfg.model, heads=dict(cfg.model.heads, moco=None))
        model = build_seeded(region_only)
        assert isinstance(model, CrossCL) and list(model.heads) == ['region']
        assert set(model.target) == {'backbone', 'neck'}
        losses = model.train_step(batch, BackwardOnly())
    assert 'loss_global' not in losses and 'loss_p3_p4' in losses
    assert torch.isfinite(losses['loss'])

