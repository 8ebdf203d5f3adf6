# Copyright (c) mmalfm contributors. All rights reserved.
"""The downstream benchmark configs (configs/benchmarks/mmdetection): every
one parses and builds its detector; the protocol settings are what the
papers used; mmalfm.PretrainedExport loads a whole-detector export exactly
and fails loudly on a missing or mismatching one."""
import glob
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from conftest import REPO

from mmalfm.models.init import ExportMismatchError

BENCH = osp.join(REPO, 'configs', 'benchmarks', 'mmdetection')
CONFIGS = sorted(glob.glob(osp.join(BENCH, '*', '*.py')))
DEMO = osp.join(BENCH, 'demo', 'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py')
EXPORT_PARTS = ('backbone.', 'neck.', 'roi_head.bbox_head.shared_convs.',
                'roi_head.bbox_head.shared_fcs.')


def _name(path: str) -> str:
    return osp.relpath(path, BENCH)


def _build(cfg: Config) -> torch.nn.Module:
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


def _pretrained_inits(node) -> list:
    """Every ``init_cfg`` of type ``Pretrained`` below ``node``."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            inits = value if isinstance(value, list) else [value]
            if key == 'init_cfg':
                found += [i for i in inits
                          if isinstance(i, dict) and 'Pretrained' in i.type]
            else:
                for item in inits:
                    found += _pretrained_inits(item)
    return found


def _config(rel: str) -> Config:
    return Config.fromfile(osp.join(BENCH, rel))


def test_there_are_configs_for_every_benchmark():
    names = {_name(p) for p in CONFIGS}
    for expected in (
            'coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco.py',
            'coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-2x_coco.py',
            'coco/mask-rcnn_r50-fpn_syncbn-ms-1x_coco.py',
            'coco/mask-rcnn_r50-c4-extranorm_syncbn-ms-1x_coco.py',
            'coco/mask-rcnn_r50-fpn_syncbn-ms-12k_coco.py',
            'coco/mask-rcnn_r50-c4-extranorm_syncbn-ms-12k_coco.py',
            'coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco-10pct.py',
            'coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco-5pct.py',
            'coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco-1pct.py',
            'voc0712/faster-rcnn_r50-c4-extranorm_syncbn-ms-24k_voc0712.py',
            'lvis/mask-rcnn_r50-fpn-4conv1fc_syncbn-sample1e-3-ms-1x_lvis-'
            'v1.py',
            'demo/faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py',
            'demo/faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo_random-init.py'):
        assert expected in names


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_parses_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet'
    assert 'mmalfm' in cfg.custom_imports['imports']
    # the non-finite guard of pretraining guards fine-tuning too
    assert cfg.default_hooks.non_finite == dict(
        type='mmalfm.NonFiniteCheckHook')
    model = _build(cfg)
    assert type(model).__name__ in ('MaskRCNN', 'FasterRCNN')
    # Nothing frozen, BN statistics updated; the export is the only init.
    backbone = cfg.model.backbone
    assert backbone.frozen_stages == -1 and backbone.norm_eval is False
    assert backbone.init_cfg is None
    if path.endswith('_random-init.py'):
        assert cfg.model.init_cfg is None
    else:
        assert cfg.model.init_cfg.type == 'mmalfm.PretrainedExport'
        assert cfg.model.init_cfg.checkpoint == cfg.pretrained
    # No module loads anything else (MMDetection's bases load torchvision or
    # Caffe ImageNet weights into the backbone and the C4 shared head).
    assert _pretrained_inits(cfg.model.backbone) == []
    assert _pretrained_inits(cfg.model.get('neck')) == []
    assert _pretrained_inits(cfg.model.roi_head) == []
    norm = 'BN' if '/demo/' in path else 'SyncBN'
    assert backbone.norm_cfg.type == norm
    assert all(p.requires_grad for p in model.backbone.parameters())


@pytest.mark.parametrize('rel, weight_decay, head, head_norm', [
    ('coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco.py', 2.5e-5,
     'Shared4Conv1FCBBoxHead', 'SyncBN'),
    ('coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco-1pct.py', 2.5e-5,
     'Shared4Conv1FCBBoxHead', 'SyncBN'),
    ('lvis/mask-rcnn_r50-fpn-4conv1fc_syncbn-sample1e-3-ms-1x_lvis-v1.py',
     2.5e-5, 'Shared4Conv1FCBBoxHead', 'SyncBN'),
    ('coco/mask-rcnn_r50-fpn_syncbn-ms-1x_coco.py', 1e-4, 'Shared2FCBBoxHead',
     None),
    ('coco/mask-rcnn_r50-fpn_syncbn-ms-12k_coco.py', 1e-4,
     'Shared2FCBBoxHead', None),
])
def test_fpn_protocols(rel, weight_decay, head, head_norm):
    cfg = _config(rel)
    assert cfg.optim_wrapper.optimizer.weight_decay == weight_decay
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.model.neck.norm_cfg.type == 'SyncBN'
    bbox_head, mask_head = cfg.model.roi_head.bbox_head, \
        cfg.model.roi_head.mask_head
    assert bbox_head.type == head
    assert (bbox_head.get('norm_cfg') or {}).get('type') == head_norm
    assert (mask_head.get('norm_cfg') or {}).get('type') == head_norm
    scales = cfg.train_dataloader.dataset.get(
        'pipeline', None) or cfg.train_dataloader.dataset.dataset.pipeline
    resize = [t for t in scales if t.type == 'RandomChoiceResize'][0]
    assert [s[1] for s in resize.scales] == list(range(640, 801, 32))
    assert cfg.param_scheduler[0].end in (1000, 100)


def test_schedules():
    sched = {
        rel: _config(rel)
        for rel in ('coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-2x_coco.py',
                    'coco/mask-rcnn_r50-c4-extranorm_syncbn-ms-12k_coco.py',
                    'voc0712/faster-rcnn_r50-c4-extranorm_syncbn-ms-24k_'
                    'voc0712.py')
    }
    two_x = sched['coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-2x_coco.py']
    assert two_x.train_cfg.max_epochs == 24
    assert two_x.param_scheduler[1].milestones == [16, 22]
    c4 = sched['coco/mask-rcnn_r50-c4-extranorm_syncbn-ms-12k_coco.py']
    assert c4.train_cfg.type == 'IterBasedTrainLoop'
    assert c4.train_cfg.max_iters == 12000
    assert c4.param_scheduler[1].milestones == [9000, 11000]
    assert c4.param_scheduler[1].by_epoch is False
    voc = sched['voc0712/faster-rcnn_r50-c4-extranorm_syncbn-ms-24k_'
                'voc0712.py']
    assert voc.train_cfg.max_iters == 24000
    assert voc.param_scheduler[0].end == 100
    assert voc.param_scheduler[1].milestones == [18000, 22000]
    assert voc.val_evaluator == dict(type='mmalfm.VOCMultiIoUMetric')
    train = voc.train_dataloader.dataset.datasets[0].pipeline
    resize = [t for t in train if t.type == 'RandomChoiceResize'][0]
    assert [s[1] for s in resize.scales] == list(range(480, 801, 32))
    test = [t for t in voc.test_dataloader.dataset.pipeline
            if t.type == 'Resize'][0]
    assert test.scale == (1333, 800)


@pytest.mark.parametrize('rel', [
    'coco/mask-rcnn_r50-c4-extranorm_syncbn-ms-1x_coco.py',
    'voc0712/faster-rcnn_r50-c4-extranorm_syncbn-ms-24k_voc0712.py'
])
def test_c4_extra_norm_and_pytorch_style(rel):
    cfg = _config(rel)
    model = _build(cfg)
    assert cfg.model.backbone.style == 'pytorch'
    assert cfg.model.data_preprocessor.bgr_to_rgb is True
    assert cfg.model.data_preprocessor.std == [58.395, 57.12, 57.375]
    keys = model.state_dict()
    assert 'roi_head.shared_head.layer4.2.conv3.weight' in keys
    assert keys['roi_head.shared_head.layer4.norm.weight'].shape == (2048, )
    assert not any(k.startswith('backbone.layer4.') for k in keys)
    assert type(model.roi_head.shared_head.layer4.norm).__name__ == \
        'SyncBatchNorm'


def test_subset_configs_read_the_subset_files():
    for pct in (10, 5, 1):
        cfg = _config(
            f'coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco-{pct}pct.py')
        assert cfg.train_dataloader.dataset.ann_file == \
            f'annotations/instances_train2017_{pct}pct_seed1.json'
        assert cfg.val_dataloader.dataset.ann_file == \
            'annotations/instances_val2017.json'
        assert cfg.train_cfg.max_epochs == 12


def _fake_export(model: torch.nn.Module, path, parts=EXPORT_PARTS) -> dict:
    """Random tensors for the exported parts, saved as an export."""
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(parts):
            state[key] = (torch.randn(value.shape, generator=gen)
                          if value.is_floating_point() else value + 7)
    torch.save({'state_dict': state, 'meta': {'method': 'fake'}}, str(path))
    return state


def _demo(checkpoint) -> torch.nn.Module:
    cfg = Config.fromfile(DEMO)
    cfg.model.init_cfg.checkpoint = str(checkpoint)
    return _build(cfg)


def test_export_loads_into_backbone_neck_and_head(tmp_path):
    path = tmp_path / 'export.pth'
    model = _demo(path)
    exported = _fake_export(model, path)
    assert any(k.startswith('roi_head.bbox_head.shared_convs.3.bn')
               for k in exported)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    after = model.state_dict()
    for key, value in exported.items():
        assert torch.equal(after[key], value), key
    # Parts the export lacks keep their own init (they were initialised:
    # the RPN conv is Normal(0, 0.01), the classifier Normal(0, 0.01)).
    for key in ('rpn_head.rpn_conv.weight', 'roi_head.bbox_head.fc_cls.'
                'weight'):
        assert key not in exported
        assert not torch.equal(after[key], before[key])
        assert after[key].std() < 0.05


def test_backbone_only_export_keeps_neck_and_head_init(tmp_path):
    path = tmp_path / 'backbone.pth'
    model = _demo(path)
    exported = _fake_export(model, path, parts=('backbone.', ))
    model.init_weights()
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in exported.items())
    # the FPN convs keep their Xavier/Kaiming init, not the random export
    assert after['neck.fpn_convs.0.conv.weight'].abs().max() < 1


def test_missing_export_names_the_path_and_the_command(tmp_path):
    path = tmp_path / 'nowhere' / 'export.pth'
    model = _demo(path)
    with pytest.raises(FileNotFoundError) as err:
        model.init_weights()
    message = str(err.value)
    assert str(path) in message
    assert f'python tools/model_converters/export_to_mmdet.py PRETRAIN_CKPT'\
        f' {path}' in message
    assert 'model.init_cfg=None' in message


def test_mismatching_export_is_refused(tmp_path):
    path = tmp_path / 'export.pth'
    model = _demo(path)
    state = _fake_export(model, path)
    state['neck.fpn_convs.0.conv.bias'] = torch.zeros(64)  # no such key
    state['backbone.conv1.weight'] = torch.zeros(8, 3, 7, 7)  # wrong shape
    del state['backbone.layer1.0.conv1.weight']
    torch.save({'state_dict': state}, str(path))
    with pytest.raises(ExportMismatchError) as err:
        model.init_weights()
    message = str(err.value)
    assert str(path) in message
    assert 'backbone.conv1.weight: export (8, 3, 7, 7) vs detector ' \
        '(16, 3, 7, 7)' in message
    assert "['neck.fpn_convs.0.conv.bias']" in message
    assert '1 backbone keys missing' in message
    assert 'backbone.layer1.0.conv1.weight' in message

    # strict=False loads what fits and only warns.
    model = _demo(path)
    model.init_cfg['strict'] = False
    model.init_weights()
    key = 'backbone.layer1.0.conv2.weight'
    assert torch.equal(model.state_dict()[key], state[key])
    assert model.state_dict()['backbone.conv1.weight'].shape == \
        (16, 3, 7, 7)


def test_baselines_are_cfg_options():
    """Random init and the supervised ImageNet backbone under the very same
    config (docs/user_guides/benchmarks_detection.md)."""
    cfg = _config('coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco.py')
    cfg.merge_from_dict({
        'model.init_cfg': None,
        'model.backbone.init_cfg._delete_': True,
        'model.backbone.init_cfg.type': 'Pretrained',
        'model.backbone.init_cfg.checkpoint': 'torchvision://resnet50'
    })
    assert cfg.model.init_cfg is None
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='torchvision://resnet50')


def test_c4_export_loads_res5_into_the_shared_head(tmp_path):
    """A --c4 export: res5 under roi_head.shared_head.layer4.*; the extra
    norm is not pretrained and keeps its init (weight 1, bias 0)."""
    cfg = _config(
        'voc0712/faster-rcnn_r50-c4-extranorm_syncbn-ms-24k_voc0712.py')
    path = tmp_path / 'c4.pth'
    cfg.model.init_cfg.checkpoint = str(path)
    model = _build(cfg)
    parts = ('backbone.', 'roi_head.shared_head.layer4.0.',
             'roi_head.shared_head.layer4.1.',
             'roi_head.shared_head.layer4.2.')
    exported = _fake_export(model, path, parts=parts)
    model.init_weights()
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in exported.items())
    assert torch.equal(after['roi_head.shared_head.layer4.norm.weight'],
                       torch.ones(2048))
    assert torch.equal(after['roi_head.shared_head.layer4.norm.bias'],
                       torch.zeros(2048))


def test_a_pretraining_checkpoint_is_not_an_export(tmp_path):
    path = tmp_path / 'epoch_10.pth'
    model = _demo(path)
    state = _fake_export(model, path)
    state['target_net.backbone.conv1.weight'] = state['backbone.conv1.weight']
    torch.save({'state_dict': state}, str(path))
    with pytest.raises(
            ExportMismatchError,
            match='pretraining checkpoint.*export_to_mmdet.py'):
        model.init_weights()
