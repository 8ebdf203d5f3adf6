# Copyright (c) mmalfm contributors. All rights reserved.
"""DUPR on heads: the flat layout (``global_neck``, ``patch_neck``, ...;
keys ``global_neck.*``, ``patch_queues.*``) still builds and still loads,
and a wrong pipeline names DUPR's sampler."""
import json
from pathlib import Path

import pytest
import torch
from flat_layout import (assert_loads_strictly, build_seeded, equal_states,
                         old_state, recorded_model)
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample
from test_dupr import geometry, tiny_cfg
from test_regression_fixtures import SEED, _isolated

import mmalfm  # noqa: F401
from mmalfm.models import DUPR
from mmalfm.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
TINY = 'tests/data/configs/dupr_tiny.py'
FPN = 'configs/dupr/dupr_resnet50-fpn_8xb32-coslr-200e_in1k.py'
#: The flat layout's state-dict groups and where they live now.
MOVED = {
    'global_neck.': 'heads.moco.neck.',
    'global_head.': 'heads.moco.head.',
    'patch_necks.': 'heads.reid.patch_necks.',
    'patch_queues.': 'heads.reid.patch_queues.',
}


def test_flat_tiny_config_builds_the_same_model():
    """The recorded flat tiny model builds, with a deprecation warning
    naming the new paths, the model of today's tiny config: same keys,
    same values (parameters, queues, EMA target)."""
    flat = recorded_model(TINY)
    assert 'heads' not in flat
    assert {'global_neck', 'global_head', 'patch_neck', 'loss', 'levels',
            'patch_queue_len'} <= set(flat)
    with pytest.warns(DeprecationWarning) as record:
        old = build_seeded(flat)
    message = ' '.join(str(w.message) for w in record
                       if issubclass(w.category, DeprecationWarning))
    for move in ('model.global_neck -> model.heads.moco.neck',
                 'model.global_head -> model.heads.moco.head',
                 'model.patch_neck -> model.heads.reid.patch_neck',
                 'model.patch_queue_len -> model.heads.reid.patch_queue_len'):
        assert move in message
    new = build_seeded(Config.fromfile(str(REPO / TINY)).model)
    assert list(old.heads) == list(new.heads) == ['moco', 'reid']
    equal_states(old, new)


def test_flat_fpn_config_reads_as_todays():
    """The full-size FPN variant: the recorded flat model, read through
    ``DUPR.legacy``, is today's config (``levels`` in the patch head)."""
    flat = recorded_model(FPN)
    current = Config.fromfile(str(REPO / FPN)).model.to_dict()
    assert json.loads(json.dumps(DUPR.legacy.upgrade_config(flat))) == \
        json.loads(json.dumps(current))
    assert list(current['heads']['reid']['levels']) == [1, 2, 3]


def test_old_checkpoint_keys_load():
    """A state dict with the flat layout's keys (online, queues and EMA
    target) loads strictly into today's model, through MMEngine's loader
    too."""
    model_cfg = Config.fromfile(str(REPO / TINY)).model
    source = build_seeded(model_cfg)
    state = old_state(source)
    for old, new in MOVED.items():
        assert any(k.startswith(old) for k in state), old
        assert not any(k.startswith(new) for k in state), new
    for old in ('global_neck.', 'patch_necks.'):
        assert any(k.startswith('target_net.module.' + old)
                   for k in state), old
    # the trunk's keys did not move
    assert [k for k in state if k.startswith(('backbone.', 'neck.'))
            ] == [k for k in source.state_dict()
                  if k.startswith(('backbone.', 'neck.'))]
    assert_loads_strictly(model_cfg, source, state)


def test_flat_override_updates_the_patch_head():
    """A flat key on today's config (``--cfg-options model.<key>=...``)
    updates the head at its new path."""
    cfg = Config.fromfile(str(REPO / TINY)).model
    cfg.num_important = 3
    cfg.global_head = dict(queue_len=4)
    with pytest.warns(DeprecationWarning, match='num_important'):
        model = build_seeded(cfg)
    assert model.heads.reid.num_important == 3
    assert model.heads.reid.patch_queues[0].queue.shape == (24, 16)
    assert model.heads.moco.head.queue.queue.shape[0] == 4


def test_pipeline_without_the_grid_names_dupr_and_its_sampler():
    """Views without DUPRGridSampler's cells: the error names DUPR and the
    sampler to add, before any head's check."""
    with _isolated(SEED), DefaultScope.overwrite_default_scope('mmalfm'):
        model = MODELS.build(tiny_cfg())
    ds = DataSample()
    ds.set_metainfo(dict(view_geometry=geometry((30, 20, 60, 50)).to_dict()))
    views = [torch.randn(1, 3, 32, 32) for _ in range(2)]
    with pytest.raises(ValueError, match=r'^DUPR needs 1 region pair.*'
                       r'type="DUPRGridSampler"'):
        model.loss(views, [ds])


def test_dupr_needs_its_heads():
    cfg = tiny_cfg()
    with pytest.raises(ValueError, match='DUPR needs model.heads'):
        build_seeded(dict(cfg, heads=None))
    with pytest.raises(ValueError, match='model.target_ema must not be None'):
        build_seeded(dict(cfg, target_ema=None))


def test_init_weights_reaches_the_patch_mlps():
    """A patch MLP's ``init_cfg`` is applied (the per-level MLPs sit in
    MMEngine's ``ModuleList``, which ``init_weights`` walks into)."""
    cfg = tiny_cfg()
    cfg['heads']['reid']['patch_neck']['init_cfg'] = dict(
        type='Constant', val=0.5, layer='Linear')
    model = build_seeded(cfg)
    for neck in model.heads.reid.patch_necks:
        assert torch.all(neck.fc0.weight == 0.5)
