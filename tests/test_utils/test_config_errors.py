# Copyright (c) mmalfm contributors. All rights reserved.
"""Tests for ``mmalfm/utils/config_errors.py``.

The registry errors are provoked for real (MMEngine 0.10.7 builds from
configs with a misspelt ``type``), so a change of MMEngine's wording breaks
these tests rather than silently disabling the explanation.
"""
import re

import pytest
import torch
from mmengine.registry import DefaultScope

import mmalfm  # noqa: F401
import mmalfm.registry as alfm_registry
from mmalfm.utils import ConfigTypeError, explain_registry_error

CONFIG = 'configs/x.py'
MMENGINE_URL = ('https://mmengine.readthedocs.io/en/latest/'
                'advanced_tutorials/config.html#import-the-custom-module')


def _suggestions(message: str) -> list:
    """The names suggested by ``Did you mean 'a', 'b'?``."""
    match = re.search(r'Did you mean (.*?)\?', message)
    return re.findall(r"'([^']*)'", match.group(1)) if match else []


def _provoke(registry, cfg: dict, scope='mmalfm', **kwargs) -> KeyError:
    """Build ``cfg`` from ``registry`` in ``scope``; return the KeyError."""
    with DefaultScope.overwrite_default_scope(scope):
        with pytest.raises(KeyError) as info:
            registry.build(cfg, **kwargs)
    return info.value


@pytest.fixture(scope='module')
def optimizer():
    return torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)


# --------------------------------------------------------------------------
# A synthetic error with MMEngine's wording
# --------------------------------------------------------------------------
def test_explains_registry_key_error():
    err = KeyError(
        'BYOLL is not in the mmalfm::model registry. Please check whether '
        'the value of `BYOLL` is correct or it was registered as expected. '
        f'More details can be found at {MMENGINE_URL}')
    explained = explain_registry_error(err, CONFIG)
    assert isinstance(explained, ConfigTypeError)
    assert isinstance(explained, KeyError)
    message = str(explained)
    assert message.startswith(CONFIG)  # str, not KeyError's repr
    assert CONFIG in message and 'BYOLL' in message
    assert 'mmalfm' in message and 'model' in message
    assert _suggestions(message)[0] == 'BYOL'
    # MMPretrain's BYOL needs no prefix in our scope.
    assert 'mmpretrain.BYOL' not in _suggestions(message)
    # The original message is kept.
    assert 'BYOLL is not in the mmalfm::model registry' in message


@pytest.mark.parametrize(
    'err', [
        KeyError('img_path'),
        KeyError(),
        KeyError('`cfg` or `default_args` must contain the key "type", but '
                 'got {}\nNone'),
        KeyError('mmalfm::model'),
    ],
    ids=['plain-key', 'no-args', 'missing-type', 'scope-only'])
def test_other_key_errors_are_not_explained(err):
    assert explain_registry_error(err, CONFIG) is None


def test_no_suggestion_for_unrelated_names():
    err = KeyError('Xyzzyplugh is not in the mmalfm::model registry. Please '
                   'check whether the value of `Xyzzyplugh` is correct.')
    explained = explain_registry_error(err, CONFIG)
    assert isinstance(explained, ConfigTypeError)
    assert CONFIG in str(explained) and 'Xyzzyplugh' in str(explained)
    assert 'Did you mean' not in str(explained)


# --------------------------------------------------------------------------
# The real thing: MMEngine 0.10.7's errors
# --------------------------------------------------------------------------
def test_real_model_typo_in_our_scope():
    err = _provoke(alfm_registry.MODELS, dict(type='BYOLL'))
    # MMEngine 0.10.7's wording (build_functions.py, build_from_cfg).
    assert str(err.args[0]).startswith(
        'BYOLL is not in the mmalfm::model registry. Please check whether '
        'the value of `BYOLL` is correct')
    explained = explain_registry_error(err, CONFIG)
    assert isinstance(explained, ConfigTypeError)
    assert CONFIG in str(explained) and 'BYOLL' in str(explained)
    assert _suggestions(str(explained))[0] == 'BYOL'


def test_real_model_typo_from_a_config_file(tmp_path):
    from mmengine.config import Config

    config = tmp_path / 'byol_typo.py'
    config.write_text("default_scope = 'mmalfm'\n"
                      "model = dict(type='BYOLL', backbone=dict())\n")
    cfg = Config.fromfile(str(config))
    err = _provoke(alfm_registry.MODELS, cfg.model, scope=cfg.default_scope)
    explained = explain_registry_error(err, str(config))
    assert str(config) in str(explained)
    assert _suggestions(str(explained))[0] == 'BYOL'


@pytest.mark.parametrize(
    'registry, cfg, expected', [
        ('MODELS', dict(type='ResNett'), 'ResNet'),
        ('MODELS', dict(type='mmdet.RetinaNett'), 'mmdet.RetinaNet'),
        ('TRANSFORMS', dict(type='RandomResizedCrp'), 'RandomResizedCrop'),
        pytest.param(
            'TRANSFORMS',
            dict(type='LoadImageFromFlie'),
            'LoadImageFromFile'),
        ('DATASETS', dict(type='UnlabeledImageDatset'),
         'UnlabeledImageDataset'),
        ('DATA_SAMPLERS', dict(type='DefaultSampeler'), 'DefaultSampler'),
        ('HOOKS', dict(type='CheckpointHok'), 'CheckpointHook'),
        ('MODEL_WRAPPERS', dict(type='GlooDistributedDataParalel'),
         'GlooDistributedDataParallel'),
        ('OPTIM_WRAPPERS', dict(type='OptimWraper'), 'OptimWrapper'),
        ('PARAM_SCHEDULERS', dict(type='CosineAnnealingLRR'),
         'CosineAnnealingLR'),
        ('VISUALIZERS', dict(type='UniversalVisualiser'),
         'UniversalVisualizer'),
    ])
def test_real_typos_are_explained_with_suggestion(registry, cfg, expected,
                                                   optimizer):
    kwargs = {}
    if registry in ('PARAM_SCHEDULERS', 'OPTIM_WRAPPERS'):
        kwargs = dict(default_args=dict(optimizer=optimizer))
    err = _provoke(getattr(alfm_registry, registry), cfg, **kwargs)
    explained = explain_registry_error(err, CONFIG)
    assert isinstance(explained, ConfigTypeError), err
    message = str(explained)
    assert CONFIG in message and cfg['type'] in message
    suggestions = _suggestions(message)
    assert suggestions[0] == expected
    assert len(suggestions) == len(set(suggestions)), suggestions


def test_suggestions_are_spelt_for_the_failing_scope():
    # In MMDetection's scope its own modules need no prefix.
    import mmdet.registry as mmdet_registry
    err = _provoke(mmdet_registry.MODELS, dict(type='RetinaNett'),
                   scope='mmdet')
    assert 'mmdet::model' in str(err.args[0])
    explained = explain_registry_error(err, CONFIG)
    assert _suggestions(str(explained))[0] == 'RetinaNet'
    assert "'mmdet'" in str(explained)




def test_real_iter_based_scheduler_typo(optimizer):
    err = _provoke(
        alfm_registry.PARAM_SCHEDULERS,
        dict(
            type='CosineAnnealingLRR',
            by_epoch=True,
            begin=1,
            end=10,
            convert_to_iter_based=True),
        default_args=dict(optimizer=optimizer, epoch_length=4))
    assert str(err.args[0]).startswith(
        'CosineAnnealingLRR is not in the parameter scheduler registry.')
    explained = explain_registry_error(err, CONFIG)
    assert isinstance(explained, ConfigTypeError)
    assert CONFIG in str(explained)
    assert _suggestions(str(explained))[0] == 'CosineAnnealingLR'


def test_real_runner_type_typo():
    err = _provoke(alfm_registry.RUNNERS, dict(runner_type='Runnerr'))
    assert str(err.args[0]).startswith(
        'Runnerr is not in the runner registry.')
    explained = explain_registry_error(err, CONFIG)
    assert isinstance(explained, ConfigTypeError)
    assert _suggestions(str(explained))[0] == 'Runner'


def test_real_log_processor_typo():
    assert alfm_registry.LOG_PROCESSORS.name == 'log processor'
    err = _provoke(alfm_registry.LOG_PROCESSORS, dict(type='LogProcesor'))
    explained = explain_registry_error(err, CONFIG)
    assert isinstance(explained, ConfigTypeError)
    assert _suggestions(str(explained))[0] == 'LogProcessor'
