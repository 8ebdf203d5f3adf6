# Copyright (c) mmalfm contributors. All rights reserved.
"""Heads mix by config; the flat layout still builds and still loads."""
import copy
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from flat_layout import (assert_loads_strictly, build_seeded, equal_states,
                         old_state, recorded_model)
from mmengine.logging import MessageHub
from test_regression_fixtures import (SEED, _isolated, _message_hub,
                                      build_model, make_batch)

import mmalfm  # noqa: F401
from mmalfm.models import SoCo
from mmalfm.models.utils.health import HEALTH_INFO_KEY
from mmalfm.models.utils.legacy_layout import LegacyLayout
from mmalfm.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
MIX = 'configs/mix/soco-region_gmsr-global_resnet18_demo.py'
TINY = {m: f'tests/data/configs/{m}_tiny.py' for m in ('soco', 'alfm')}


def test_soco_region_and_gmsr_global_heads_train_together(tmp_path):
    """The mix config: SoCo's region head and ALFM's GMSR head in one model
    (no code): both heads' terms, gradients in both heads and the trunk, a
    target for the region head only, both in the health record."""
    cfg = Config.fromfile(str(REPO / MIX))
    with _isolated(SEED), _message_hub(10):
        batch = make_batch(cfg, tmp_path)
        model = build_model(cfg)
        assert isinstance(model, SoCo) and set(model.heads) == {
            'region', 'gmsr'}
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        losses = model(**data, mode='loss')
    assert set(losses) == {
        'loss_1to2', 'loss_2to1', 'loss_1to3', 'loss_3to1',
        'loss_gmsr_align', 'loss_gmsr_entropy'
    }
    sum(losses.values()).backward()
    for prefix in ('backbone.layer4.', 'neck.', 'roi_head.',
                   'heads.region.embedding.predictor.',
                   'heads.gmsr.projector.'):
        grads = [p.grad for n, p in model.named_parameters()
                 if n.startswith(prefix) and p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), prefix
    assert set(model.target.heads) == {'region'}
    health = MessageHub.get_current_instance().get_info(HEALTH_INFO_KEY)
    assert health.embeddings is not None and health.pos_pairs is not None
    assert health.branches['gmsr'].shape == (4, 64)


@pytest.mark.parametrize('relpath', [
    TINY['soco'], TINY['alfm'],
    'configs/alfm/alfm-gmsr-only_resnet50-fpn_8xb64-coslr-800e_coco.py'
])
def test_flat_config_builds_the_same_model(relpath):
    """The flat model config recorded before the heads builds (with a
    deprecation warning naming the new paths) the model of today's config:
    same keys, same values."""
    flat = recorded_model(relpath)
    assert 'heads' not in flat
    current = Config.fromfile(str(REPO / relpath)).model
    if 'resnet50' in relpath:  # full size: compare the build, not weights
        layout = MODELS.get(flat['type']).legacy
        assert json.loads(json.dumps(layout.upgrade_config(flat))) == \
            json.loads(json.dumps(current.to_dict()))
        return
    with pytest.warns(DeprecationWarning, match=r'model\.projector -> '
                      r'model\.heads\.'):
        old = build_seeded(flat)
    equal_states(old, build_seeded(current))


@pytest.mark.parametrize('method', ['soco', 'alfm'])
def test_old_checkpoint_keys_load(method):
    """A state dict with the flat layout's keys (online and EMA target)
    loads strictly into today's model, through MMEngine's loader too."""
    model_cfg = Config.fromfile(str(REPO / TINY[method])).model
    source = build_seeded(model_cfg)
    state = old_state(source)
    moved = [k for k in state if k not in source.state_dict()]
    assert any(k.startswith('target_net.module.') for k in moved)
    assert any(not k.startswith('target_net.') for k in moved)
    assert_loads_strictly(model_cfg, source, state)


def test_flat_override_updates_the_head():
    """A flat key on today's config (``--cfg-options model.<key>=...``)
    updates the head at its new path."""
    cfg = Config.fromfile(str(REPO / TINY['soco'])).model
    cfg.assigned_level_only = True
    with pytest.warns(DeprecationWarning, match='assigned_level_only'):
        model = build_seeded(cfg)
    assert model.heads.region.assigned_level_only
    assert model.heads.region.bn_groups == 'set'
    assert model.heads.region.level_thresholds == (7, 14, 28, 32)
    cfg = Config.fromfile(str(REPO / TINY['alfm'])).model
    cfg.cdlp_head, cfg.cdlp_loss, cfg.target_ema = None, None, None
    with pytest.warns(DeprecationWarning):
        model = build_seeded(cfg)
    assert set(model.heads) == {'gmsr'} and model.target_net is None


def test_head_contract_errors():
    cfg = Config.fromfile(str(REPO / TINY['soco'])).model
    twice = copy.deepcopy(cfg)
    twice.heads.other = copy.deepcopy(twice.heads.region)
    model = build_seeded(twice)
    with pytest.raises(KeyError, match=r'heads\.other logs \[.loss_1to2'):
        model.region_losses({}, {}, _PairsOnly())
    no_target = copy.deepcopy(cfg)
    no_target.target_ema = None
    with pytest.raises(ValueError, match='heads.region reads an EMA target'):
        build_seeded(no_target)
    not_a_head = copy.deepcopy(cfg)
    not_a_head.heads.region = dict(type='CorrespondenceBYOLLoss')
    with pytest.raises(TypeError, match='is not a BaseRegionHead'):
        build_seeded(not_a_head)
    with pytest.raises(ValueError, match='SoCoRegionHead'):
        build_seeded(dict(copy.deepcopy(cfg), heads=None))


class _PairsOnly:
    """Just enough of a batch for a region head that is monkey-patched."""


@pytest.fixture(autouse=True)
def _stub_soco_loss(monkeypatch, request):
    """In the contract test, every SoCo region head logs one fixed term."""
    if request.node.name != 'test_head_contract_errors':
        yield
        return
    from mmalfm.models.heads import SoCoRegionHead
    from mmalfm.models.utils import StepHealth
    monkeypatch.setattr(
        SoCoRegionHead, 'loss',
        lambda self, inputs: (dict(loss_1to2=torch.zeros(())), StepHealth()))
    yield


def test_legacy_layout_round_trip():
    layout = LegacyLayout(
        heads=dict(h=dict(type='H', embedding=dict(type='E'))),
        config=dict(proj='heads.h.embedding.projector', w='heads.h.w'),
        state={'proj.': 'heads.h.embedding.projector.'},
        optional_heads=dict(h=('embedding.projector', )))
    state = {'proj.0.weight': 1, 'target_net.module.proj.0.bias': 2,
             'backbone.w': 3}
    assert layout.rename_state(state) == 2
    assert state == {'heads.h.embedding.projector.0.weight': 1,
                     'target_net.module.heads.h.embedding.projector.0.bias': 2,
                     'backbone.w': 3}
    assert {layout.old_key(k) for k in state} == {
        'proj.0.weight', 'target_net.module.proj.0.bias', None}
    assert layout.upgrade_config(dict(type='A', proj=dict(x=1), w=2)) == \
        dict(type='A', heads=dict(h=dict(
            type='H', w=2, embedding=dict(type='E', projector=dict(x=1)))))
    # no projector: the optional head is off
    assert layout.upgrade_config(dict(type='A', w=2))['heads'] == dict(h=None)
    # on a heads config, a flat dict updates the head's dict
    heads = dict(h=dict(type='H', embedding=dict(projector=dict(x=1, y=1))))
    got = layout.upgrade_config(dict(heads=heads, proj=dict(y=5)))
    assert got['heads']['h']['embedding']['projector'] == dict(x=1, y=5)
    with pytest.raises(ValueError, match=r'model\.w belongs to '
                       r'model\.heads\.h, which is off'):
        layout.upgrade_config(dict(heads=dict(h=None), w=1))
