# Copyright (c) mmalfm contributors. All rights reserved.
"""Helpers of the tests that read the flat (pre-heads) model layout:
recorded flat configs, seeded builds, state comparison, old checkpoints."""
import copy

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import load_state_dict
from test_regression_fixtures import SEED, _isolated, build_model

from mmalfm.registry import MODELS


def recorded_model(relpath: str) -> dict:
    """The flat model config of ``relpath`` recorded before the heads
    (without the keys retired since: ``DELETED_KEYS``)."""
    import test_config_dumps as dumps
    renamed, deleted = dumps.allowed_changes()
    return dumps.apply_allowed(dumps.recorded()[relpath], renamed,
                               deleted)['model']


def build_seeded(model_cfg: dict):
    """The model of ``model_cfg`` as the regression fixtures build it
    (seed ``SEED``, ``init_weights``, train mode)."""
    with _isolated(SEED), DefaultScope.overwrite_default_scope('mmalfm'):
        return build_model(Config(dict(model=model_cfg)))


def equal_states(a, b) -> None:
    """``a`` and ``b`` have the same state-dict keys, in order, and
    values."""
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def old_state(model) -> dict:
    """``model``'s state dict under the flat layout's key names (its
    algorithm's ``legacy.old_key``)."""
    layout = type(model).legacy
    return {(layout.old_key(k) or k): v.clone()
            for k, v in model.state_dict().items()}


def assert_loads_strictly(model_cfg: dict, source, state: dict) -> None:
    """``state`` (flat-layout keys) loads strictly into a fresh model of
    ``model_cfg`` built with another seed, through torch's and MMEngine's
    loaders, and gives ``source``'s state."""
    for load in (lambda m, s: m.load_state_dict(s, strict=True),
                 lambda m, s: load_state_dict(m, s, strict=True)):
        with _isolated(SEED + 1), DefaultScope.overwrite_default_scope(
                'mmalfm'):
            fresh = MODELS.build(copy.deepcopy(model_cfg))
        load(fresh, dict(state))
        equal_states(fresh, source)
