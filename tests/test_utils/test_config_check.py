# Copyright (c) mmalfm contributors. All rights reserved.
"""The pre-flight keyword check of tools/train.py (mmalfm.utils.config_check)."""
import glob
import os.path as osp
import sys

import pytest
from conftest import REPO, TEST_DATA, fork_tool
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.optim import LinearLR

from mmalfm.utils import register_all_modules
from mmalfm.utils.config_check import (ConfigKeyError, accepted_keywords,
                                       check_config, find_problems)

BYOL_DEMO = osp.join(REPO, 'configs/byol/byol_resnet18q_1xb8-coslr-10e_demo.py')
ALFM_DEMO = osp.join(REPO,
                     'configs/alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py')
DET_DEMO = osp.join(
    REPO, 'configs/benchmarks/mmdetection/demo/'
    'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')


@pytest.fixture(scope='module', autouse=True)
def registries():
    register_all_modules(init_default_scope=False)
    sys.path.insert(0, osp.join(TEST_DATA, 'plugins'))  # custom_imports
    yield
    sys.path.remove(osp.join(TEST_DATA, 'plugins'))


def _problems(path, **options):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    return [str(p) for p in find_problems(cfg)]


def _every_config():
    files = glob.glob(osp.join(REPO, 'configs/**/*.py'), recursive=True)
    files += glob.glob(osp.join(TEST_DATA, 'configs/*.py'))
    return sorted(f for f in files if '/_base_/' not in f)


def test_every_shipped_config_passes():
    """No false alarm on any config of the repository (every method, BYOL,
    the mmdet fine-tuning configs, the test configs)."""
    bad = {}
    for path in _every_config():
        found = _problems(path)
        if found:
            bad[osp.relpath(path, REPO)] = found
    assert bad == {}
    assert len(_every_config()) > 50


@pytest.mark.parametrize('key,value,line', [
    ('model.backbone.depht', 18,
     "model.backbone.depht: ResNet (mmpretrain.models.backbones.resnet) has "
     "no argument 'depht'. Did you mean 'depth'?"),
    ('default_hooks.checkpoint.intervall', 1,
     'default_hooks.checkpoint.intervall: CheckpointHook '
     "(mmengine.hooks.checkpoint_hook) has no argument 'intervall'. Did you "
     "mean 'interval'?"),
    ('optim_wrapper.optimizer.momentun', 0.9,
     'optim_wrapper.optimizer.momentun: LARS (mmpretrain.engine.optimizers.'
     "lars) has no argument 'momentun'. Did you mean 'momentum'?"),
    ('param_scheduler.0.begn', 0,
     'param_scheduler.0.begn: LinearLR (mmengine.optim.scheduler.'
     "lr_scheduler) has no argument 'begn'. Did you mean 'begin'?"),
    ('train_cfg.max_epoch', 3,
     'train_cfg.max_epoch: EpochBasedTrainLoop (mmengine.runner.loops) has '
     "no argument 'max_epoch'. Did you mean 'max_epochs'?"),
    ('randomness.sed', 1,
     "randomness.sed: Runner.set_randomness has no argument 'sed'. Did you "
     "mean 'seed'?"),
    ('custom_hooks.0.intervl', 3,
     'custom_hooks.0.intervl: RepresentationHealthHook (mmalfm.engine.hooks.'
     "representation_health) has no argument 'intervl'. Did you mean "
     "'interval'?"),
])
def test_byol_typos_name_path_class_and_fix(key, value, line):
    assert _problems(BYOL_DEMO, **{key: value}) == [line]


def test_dataloader_dataset_pipeline_and_nested_keys():
    found = _problems(
        ALFM_DEMO, **{
            'train_dataloader.num_worker': 2,
            'train_dataloader.dataset.proposal_fle': 'x',
            'train_dataloader.dataset.pipeline.0.skip_corupt': True,
            'model.neck.out_channel': 3,
        })
    assert [p.split(':')[0] for p in found] == [
        'model.neck.out_channel', 'train_dataloader.num_worker',
        'train_dataloader.dataset.proposal_fle',
        'train_dataloader.dataset.pipeline.0.skip_corupt'
    ]
    assert "Did you mean 'out_channels'" in found[0]
    assert "Did you mean 'num_workers'" in found[1]
    assert "ProposalDataset (mmalfm.datasets.proposal_dataset)" in found[2]
    assert "Did you mean 'skip_corrupt'?" in found[3]


def test_mmdet_scope_and_its_task_utils():
    found = _problems(
        DET_DEMO, **{
            'model.roi_head.bbox_head.num_clases': 3,
            'model.train_cfg.rcnn.assigner.pos_iou_th': 0.5,
        })
    assert found[0].startswith(
        'model.roi_head.bbox_head.num_clases: Shared4Conv1FCBBoxHead '
        '(mmdet.models.roi_heads.bbox_heads.convfc_bbox_head)')
    assert found[1].startswith(
        'model.train_cfg.rcnn.assigner.pos_iou_th: MaxIoUAssigner (mmdet.')
    assert "Did you mean 'pos_iou_thr'" in found[1]


def test_error_lists_all_problems_and_marks_cli_keys():
    cfg = Config.fromfile(BYOL_DEMO)
    cfg.merge_from_dict({'model.backbone.depht': 18, 'randomness.sed': 1})
    with pytest.raises(ConfigKeyError) as err:
        check_config(cfg, 'my.py', cli_keys=['randomness.sed'])
    msg = str(err.value)
    assert msg.startswith('my.py: 2 unknown config keys (checked before '
                          'training, nothing was run):\n')
    assert "Did you mean 'depth'?\n" in msg
    assert "Did you mean 'seed'? (set by --cfg-options)\n" in msg
    assert msg.endswith('Fix the key in my.py or in the --cfg-options that '
                        'set it.')


class _Stores:

    def __init__(self, a=1, **kwargs):
        self.kwargs = kwargs


class _Reads(_Stores):

    def __init__(self, b=2, **kwargs):
        if kwargs.get('c') is not None or 'd' in kwargs:
            pass
        kwargs.pop('e', None)
        super().__init__(**kwargs)


class _Closed:

    def __init__(self, x=0):
        pass


class _ToClosed(_Closed):

    def __init__(self, y=0, **kwargs):
        super().__init__(**kwargs)


def test_accepted_keywords_follow_kwargs_only_where_provable():
    # stored kwargs: anything may be valid
    assert accepted_keywords(_Stores) == (('a', ), True)
    # read literally, then to a parent that stores them: still open
    got = accepted_keywords(_Reads)
    assert set(got.names) == {'b', 'c', 'd', 'e', 'a'} and got.open
    # to a closed parent: closed
    assert accepted_keywords(_ToClosed) == (('y', 'x'), False)
    # MMEngine's LRSchedulerMixin passes **kwargs to the scheduler it mixes
    got = accepted_keywords(LinearLR)
    assert not got.open and {'start_factor', 'begin', 'end', 'by_epoch'} <= \
        set(got.names)
    # CheckpointHook's **kwargs reaches save_checkpoint, which gets every
    # parameter from the hook already
    got = accepted_keywords(CheckpointHook)
    assert not got.open and 'interval' in got.names


def test_norm_layers_accept_requires_grad():
    assert _problems(
        DET_DEMO, **{'model.backbone.norm_cfg.requires_grad': False}) == []
    found = _problems(DET_DEMO, **{'model.backbone.norm_cfg.eps_': 1e-3})
    assert len(found) == 1 and "'eps_'" in found[0]


def test_train_tool_fails_before_any_work(tiny_demo_data, tmp_path):
    """A typo that MMEngine would only hit when saving the first checkpoint
    stops tools/train.py before the first iteration."""
    proc = fork_tool('tools/train.py', [
        osp.join(TEST_DATA, 'configs', 'byol_tiny.py'), '--work-dir',
        str(tmp_path), '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_demo_data}/coco/',
        'default_hooks.checkpoint.intervall=1'
    ], check=False)
    assert proc.returncode != 0
    log = proc.stdout + proc.stderr
    assert ('default_hooks.checkpoint.intervall: CheckpointHook '
            '(mmengine.hooks.checkpoint_hook) has no argument '
            "'intervall'. Did you mean 'interval'? (set by --cfg-options)"
            ) in log
    assert 'byol_tiny.py: 1 unknown config key' in log
    assert 'Iter(train)' not in log
    assert glob.glob(str(tmp_path / '*.pth')) == []
