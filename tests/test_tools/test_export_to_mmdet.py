# Copyright (c) mmalfm contributors. All rights reserved.
"""tools/model_converters/export_to_mmdet.py: export a pretraining
checkpoint, load it into MMDetection detectors with the documented
``init_cfg``, ``--check`` and every bad input."""
import os.path as osp
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from conftest import PYTHON, load_checkpoint, run_tool

REPO = Path(__file__).resolve().parents[2]
TOOL = 'tools/model_converters/export_to_mmdet.py'
SOCO_DEMO = 'configs/soco/soco_resnet18-fpn_1xb8-coslr-10e_demo.py'

#: The demo detector (r18q backbone, FPN 64, 4conv1fc 64/256) as in
#: configs/benchmarks/mmdetection/demo/, written here so the test does not
#: depend on that file. ``{init}`` is the detector-level init_cfg.
DEMO_DETECTOR = """
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmalfm'], allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    init_cfg={init},
    backbone=dict(depth=18, stem_channels={stem}, base_channels={stem},
                  frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False,
                  init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64,
              norm_cfg=norm_cfg),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', in_channels=64,
                       conv_out_channels=64, fc_out_channels=256,
                       norm_cfg=norm_cfg, num_classes=4)))
"""


@pytest.fixture(scope='module')
def tool():
    from mmalfm.apis import export_mmdet_cli
    return export_mmdet_cli


def randomize_(state: dict, seed: int) -> None:
    """Distinct random values in every float tensor (zero-gamma, BN stats
    and the EMA copy would otherwise hide a wrong mapping)."""
    gen = torch.Generator().manual_seed(seed)
    for value in state.values():
        if value.is_floating_point():
            value.copy_(torch.randn(value.shape, generator=gen))


def save_training_checkpoint(path, state: dict, cfg_text: str = None,
                             **extra) -> str:
    """The MMEngine checkpoint layout (``Runner.save_checkpoint``)."""
    meta = dict(epoch=1, iter=4, seed=0, experiment_name='test')
    if cfg_text is not None:
        meta['cfg'] = cfg_text
    torch.save(dict(meta=meta, state_dict=state, message_hub={}, **extra),
               str(path))
    return str(path)


def build_pretrainer(config: str, overrides: dict = None):
    """A pretraining model from one of our configs (no training) and the
    config text MMEngine stores in ``meta['cfg']``."""
    import mmalfm.models  # noqa: F401
    from mmalfm.registry import MODELS
    cfg = Config.fromfile(str(REPO / config))
    if overrides:
        cfg.merge_from_dict(overrides)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmalfm'):
        model = MODELS.build(cfg.model)
    return model, cfg.pretty_text


def soco_demo_checkpoint(path) -> tuple:
    """The SoCo demo model (r18q + FPN 64 + 4conv1fc) as a training
    checkpoint; returns ``(path, state_dict)``."""
    model, text = build_pretrainer(SOCO_DEMO)
    state = model.state_dict()
    randomize_(state, 1)
    return save_training_checkpoint(path, state, text), state


@pytest.fixture(scope='module')
def soco_ckpt(tmp_path_factory):
    return soco_demo_checkpoint(tmp_path_factory.mktemp('soco') / 'e.pth')


def build_detector(cfg_text: str, tmp_path, name='det.py'):
    """Build (not initialise) an mmdet detector from config text."""
    import mmalfm.models.init  # noqa: F401  (PretrainedExport)
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.utils import register_all_modules
    path = tmp_path / name
    path.write_text(cfg_text)
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(str(path))
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MMDET_MODELS.build(cfg.model), str(path)


def demo_detector_cfg(init, stem=16) -> str:
    return DEMO_DETECTOR.format(init=init, stem=stem)


# ------------------------------------------------------------ acceptance
@pytest.mark.parametrize('init_type', ['mmalfm.PretrainedExport',
                                       'Pretrained'])
def test_soco_export_loads_into_the_demo_detector(soco_ckpt, tool, tmp_path,
                                                  init_type, capsys):
    """Detector-level init_cfg (ours and plain MMEngine's): every backbone,
    FPN and box-head tensor equals the online network's, none the EMA
    target's."""
    ckpt, state = soco_ckpt
    out = tmp_path / 'soco_mmdet.pth'
    assert tool.main([ckpt, str(out), '--with-neck', '--with-head']) == 0
    printed = capsys.readouterr().out
    assert 'backbone                        120 tensors' in printed
    assert 'target_net                      204 tensors' in printed

    init = f"dict(type='{init_type}', checkpoint='{out}')"
    det, _ = build_detector(demo_detector_cfg(init), tmp_path)
    det.init_weights()
    loaded = det.state_dict()
    online = [k for k in state
              if k.startswith(('backbone.', 'neck.', 'roi_head.bbox_head.'))]
    assert len(online) == 194
    for key in online:
        assert key in loaded, key
        assert torch.equal(loaded[key], state[key]), key
        target = state['target_net.module.' + key]
        if key.endswith('num_batches_tracked'):
            continue
        assert not torch.equal(loaded[key], target), key
    # the parts the export does not hold keep their configured init
    fc_cls = det.roi_head.bbox_head.fc_cls.weight
    assert fc_cls.abs().max() < 0.1  # Normal(0, 0.01) init of mmdet


def test_backbone_level_pretrained_with_prefix_loads_the_backbone(
        soco_ckpt, tool, tmp_path):
    """The documented alternative for a backbone-only transfer."""
    ckpt, state = soco_ckpt
    out = tmp_path / 'bb.pth'
    assert tool.main([ckpt, str(out)]) == 0
    text = demo_detector_cfg('None').replace(
        'init_cfg=None),\n    neck',
        f"init_cfg=dict(type='Pretrained', checkpoint='{out}', "
        "prefix='backbone.')),\n    neck")
    det, _ = build_detector(text, tmp_path)
    det.init_weights()
    for key, value in det.backbone.state_dict().items():
        assert torch.equal(value, state['backbone.' + key]), key


def test_export_file_layout(soco_ckpt, tool, tmp_path):
    ckpt, state = soco_ckpt
    out = tmp_path / 'x.pth'
    assert tool.main([ckpt, str(out), '--with-neck']) == 0
    exported = load_checkpoint(out)  # weights_only=True
    assert set(exported) == {'state_dict', 'meta'}
    keys = set(exported['state_dict'])
    assert keys == {k for k in state if k.startswith(('backbone.', 'neck.'))}
    meta = exported['meta']
    assert meta['method'] == 'soco' and meta['source'] == ckpt
    assert meta['mmalfm_export']['groups'] == ['backbone', 'neck']
    assert meta['mmalfm_export']['with_neck'] is True
    assert meta['pretrain']['iter'] == 4
    assert "type='SoCo'" in meta['pretrain_cfg']


def test_check_passes_and_the_cli_exit_codes(soco_ckpt, tool, tmp_path,
                                             capsys):
    """--check passes (exit 0); one real CLI run of a failing check (exit 2,
    nothing written)."""
    ckpt, _ = soco_ckpt
    _, det_cfg = build_detector(demo_detector_cfg('None'), tmp_path)
    out = tmp_path / 'ok.pth'
    assert tool.main([ckpt, str(out), '--with-neck', '--with-head',
                      '--check', det_cfg]) == 0
    printed = capsys.readouterr().out
    assert 'ok: every requested key present' in printed
    assert 'left to their init: rpn_head 6, roi_head.bbox_head 4' in printed
    assert out.exists()

    bad = tmp_path / 'bad.pth'
    proc = run_tool([PYTHON, TOOL, ckpt, str(bad), '--c4', '--check',
                     det_cfg], check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'MISSING (25)' in proc.stdout
    assert 'backbone.layer4.0.conv1.weight' in proc.stdout
    assert 'export without --c4' in proc.stdout
    assert f'{bad} not written' in proc.stderr
    assert not bad.exists()


def test_check_lists_shape_mismatches_of_another_width(soco_ckpt, tool,
                                                       tmp_path, capsys):
    ckpt, _ = soco_ckpt
    _, det_cfg = build_detector(demo_detector_cfg('None', stem=32),
                                tmp_path)
    out = tmp_path / 'w.pth'
    assert tool.main([ckpt, str(out), '--check', det_cfg]) == 2
    printed = capsys.readouterr().out
    assert 'backbone.conv1.weight: export (16, 3, 7, 7) vs detector ' \
        '(32, 3, 7, 7)' in printed
    assert 'hint: shapes differ' in printed
    assert not out.exists()


def test_check_lists_missing_keys_of_another_depth(soco_ckpt, tool,
                                                   tmp_path, capsys):
    """R18 export vs an R34 detector: the extra blocks are listed."""
    ckpt, _ = soco_ckpt
    text = demo_detector_cfg('None').replace('depth=18', 'depth=34')
    _, det_cfg = build_detector(text, tmp_path)
    assert tool.main([ckpt, str(tmp_path / 'd.pth'), '--check',
                      det_cfg]) == 2
    printed = capsys.readouterr().out
    # R34 has 3/4/6/3 basic blocks: 8 more blocks of 10 tensors each
    assert 'MISSING (80)' in printed
    assert 'backbone.layer1.2.conv1.weight' in printed


def test_check_fails_on_a_missing_head_for_a_2fc_detector(soco_ckpt, tool,
                                                          tmp_path, capsys):
    """A 4conv1fc export into a 2fc head: unexpected convs, missing fc."""
    ckpt, _ = soco_ckpt
    text = demo_detector_cfg('None').replace(
        "type='Shared4Conv1FCBBoxHead'", "type='Shared2FCBBoxHead'")
    _, det_cfg = build_detector(text, tmp_path)
    assert tool.main([ckpt, str(tmp_path / 'h.pth'), '--with-neck',
                      '--with-head', '--check', det_cfg]) == 2
    printed = capsys.readouterr().out
    assert 'roi_head.bbox_head.shared_fcs.1.weight' in printed  # missing
    assert 'roi_head.bbox_head.shared_convs.0.conv.weight' in printed
    assert 'not the pretrained 4conv1fc trunk' in printed


def test_soco_demo_export_fits_the_benchmark_demo_config(soco_ckpt):
    """The project's demo detector (written by the benchmarks work):
    backbone + FPN + head export, zero missing keys."""
    from mmalfm.apis.export import (check_against_detector, export_mmdet,
                                    training_model_cfg)
    from mmalfm.structures import find_transfer_spec
    config = REPO / 'configs/benchmarks/mmdetection/demo/' \
        'faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py'
    ckpt, state = soco_ckpt
    meta = load_checkpoint(ckpt)['meta']
    result = export_mmdet(state, find_transfer_spec('SoCo'),
                          with_neck=True, with_head=True,
                          model_cfg=training_model_cfg(meta))
    assert result.missing == [] and result.mismatched == []
    report = check_against_detector(result, str(config))
    assert report.ok, (report.missing, report.mismatched, report.unexpected)
    assert report.fresh == {'rpn_head': 6, 'roi_head.bbox_head': 4}


def test_crosscl_layout_partial_fpn_into_the_demo_detector(tool, tmp_path,
                                                          capsys):
    """A CrossCL-layout checkpoint (r18q + PartialFPN with biases, global
    MLP, queue, EMA copy; built by hand until CrossCL lands): --with-neck
    --check finds C3's lateral (index 1) and the bias-free norm FPN; the
    detector loads P3-P5 laterals and P3/P4 outputs, the rest is fresh."""
    from mmdet.models.backbones import ResNet

    from mmalfm.models.necks import PartialFPN
    state = {}
    for prefix, module in (
            ('backbone.', ResNet(depth=18, stem_channels=16,
                                 base_channels=16)),
            ('neck.', PartialFPN(in_channels=(32, 64, 128),
                                 out_channels=64))):
        state.update({prefix + k: v for k, v in module.state_dict().items()})
    state['global_neck.mlp.0.weight'] = torch.zeros(32, 128)
    state['queue'] = torch.zeros(16, 8)
    state.update({'target_net.module.' + k: v.clone()
                  for k, v in list(state.items())
                  if k.startswith(('backbone.', 'neck.'))})
    randomize_(state, 4)
    text = "model = dict(type='CrossCL', backbone=dict(depth=18))\n"
    ckpt = save_training_checkpoint(tmp_path / 'crosscl.pth', state, text)
    out = tmp_path / 'crosscl_mmdet.pth'
    _, det_cfg = build_detector(demo_detector_cfg('None'), tmp_path)
    assert tool.main([ckpt, str(out), '--with-neck', '--check', det_cfg]) \
        == 0
    printed = capsys.readouterr().out
    assert 'neck.lateral_convs.1..3' in printed and 'biases dropped' \
        in printed
    init = f"dict(type='mmalfm.PretrainedExport', checkpoint='{out}')"
    det, _ = build_detector(demo_detector_cfg(init), tmp_path, 'det2.py')
    det.init_weights()
    loaded = det.state_dict()
    pairs = PartialFPN.mmdet_key_map(c3_index=1, with_bias=False,
                                     prefix='neck.')
    assert len(pairs) == 5
    for ours, theirs in pairs.items():
        assert torch.equal(loaded[theirs], state[ours]), theirs
    for key in (k for k in state if k.startswith('backbone.')):
        assert torch.equal(loaded[key], state[key]), key
    assert 'neck.lateral_convs.0.conv.weight' not in \
        load_checkpoint(out)['state_dict']  # P2: not pretrained


# ------------------------------------------------------------- R50 / C4
def _r50_soco_state(c4: bool) -> tuple:
    """A SoCo R50 training state dict with the layout of our R50 configs
    (online modules built as the configs build them, plus EMA/projector
    stand-ins), and the stored config text."""
    from mmdet.models.backbones import ResNet
    from mmdet.models.necks import FPN
    from mmdet.models.roi_heads.shared_heads import ResLayer

    from mmalfm.models.heads import ConvFCRoIFeatureHead
    name = 'soco_resnet50-c4_8xb128-coslr-100e_in1k.py' if c4 else \
        'soco_resnet50-fpn_8xb128-coslr-100e_in1k.py'
    cfg = Config.fromfile(str(REPO / 'configs' / 'soco' / name))
    parts = {}
    if c4:
        parts['backbone'] = ResNet(depth=50, num_stages=3, strides=(1, 2, 2),
                                   dilations=(1, 1, 1), out_indices=(2, ))
        parts['roi_head.shared_head'] = ResLayer(depth=50)
    else:
        parts['backbone'] = ResNet(depth=50)
        parts['neck'] = FPN([256, 512, 1024, 2048], 256, 4,
                            norm_cfg=dict(type='BN'))
        parts['roi_head.bbox_head'] = ConvFCRoIFeatureHead(
            norm_cfg=dict(type='BN'))
    state = {}
    for prefix, module in parts.items():
        for k, v in module.state_dict().items():
            state[f'{prefix}.{k}'] = v
    state.update({f'target_net.module.{k}': v.clone()
                  for k, v in list(state.items())})
    state['projector.mlp.0.weight'] = torch.zeros(8, 8)
    randomize_(state, 2)
    assert cfg.model.type == 'SoCo'
    return state, cfg.pretty_text


def test_r50_fpn_export_fits_mmdet_mask_rcnn(tool, tmp_path, capsys):
    """SoCo R50-FPN keys = mmdet Mask R-CNN R50-FPN with a 4conv1fc head
    (SoCo protocol): --check passes; backbone-only passes against the stock
    2fc config too."""
    state, text = _r50_soco_state(c4=False)
    ckpt = save_training_checkpoint(tmp_path / 'r50.pth', state, text)
    det = tmp_path / 'mask_rcnn_4conv1fc.py'
    det.write_text(textwrap.dedent("""
        _base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
        norm_cfg = dict(type='SyncBN', requires_grad=True)
        model = dict(
            backbone=dict(frozen_stages=-1, norm_cfg=norm_cfg,
                          norm_eval=False, init_cfg=None),
            neck=dict(norm_cfg=norm_cfg),
            roi_head=dict(bbox_head=dict(type='Shared4Conv1FCBBoxHead',
                                         norm_cfg=norm_cfg)))
        """))
    out = tmp_path / 'r50_mmdet.pth'
    assert tool.main([ckpt, str(out), '--with-neck', '--with-head',
                      '--check', str(det)]) == 0
    captured = capsys.readouterr()
    assert 'ok: every requested key present' in captured.out
    assert 'WARNING' not in captured.err  # the R50 reference layout fits
    exported = load_checkpoint(out)['state_dict']
    for key, value in exported.items():
        assert torch.equal(value, state[key]), key

    import mmdet
    stock = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs',
                     'mask_rcnn', 'mask-rcnn_r50_fpn_1x_coco.py')
    assert tool.main([ckpt, str(tmp_path / 'bb.pth'), '--check',
                      stock]) == 0


def test_r50_c4_export_fits_mmdet_c4_mask_rcnn(tool, tmp_path, capsys):
    """SoCo C4 (res5 pretrained in roi_head.shared_head): --c4 keeps it
    there and fits mmdet's C4 Mask R-CNN; without --c4 res5 becomes
    backbone.layer4 and fits the FPN Mask R-CNN's backbone."""
    import mmdet
    configs = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs',
                       'mask_rcnn')
    state, text = _r50_soco_state(c4=True)
    ckpt = save_training_checkpoint(tmp_path / 'c4.pth', state, text)
    out = tmp_path / 'c4_mmdet.pth'
    assert tool.main([ckpt, str(out), '--c4', '--check',
                      osp.join(configs, 'mask-rcnn_r50-caffe-c4_1x_coco.py')
                      ]) == 0
    exported = load_checkpoint(out)['state_dict']
    assert sum(k.startswith('roi_head.shared_head.layer4.')
               for k in exported) == 3 * 18 + 6
    for key, value in exported.items():
        assert torch.equal(value, state[key]), key

    out = tmp_path / 'c4_as_fpn.pth'
    assert tool.main([ckpt, str(out), '--check',
                      osp.join(configs, 'mask-rcnn_r50_fpn_1x_coco.py')]) == 0
    captured = capsys.readouterr()
    assert 'written as backbone.layer4' in captured.out
    assert 'WARNING' not in captured.err
    exported = load_checkpoint(out)['state_dict']
    assert torch.equal(
        exported['backbone.layer4.2.conv3.weight'],
        state['roi_head.shared_head.layer4.2.conv3.weight'])


def test_backbone_c4_export_of_an_fpn_pretraining(soco_ckpt, tool, tmp_path):
    """--c4 moves backbone.layer4 to roi_head.shared_head.layer4."""
    ckpt, state = soco_ckpt
    out = tmp_path / 'c4.pth'
    assert tool.main([ckpt, str(out), '--c4']) == 0
    exported = load_checkpoint(out)['state_dict']
    assert not any(k.startswith('backbone.layer4.') for k in exported)
    assert torch.equal(exported['roi_head.shared_head.layer4.1.bn2.weight'],
                       state['backbone.layer4.1.bn2.weight'])


# ------------------------------------------------------------ bad input
def test_missing_file_is_named(tool, tmp_path, capsys):
    missing = str(tmp_path / 'nope.pth')
    assert tool.main([missing, str(tmp_path / 'o.pth')]) == 1
    assert f'Checkpoint not found: {missing}' in capsys.readouterr().err


def test_missing_detector_config_is_named(soco_ckpt, tool, tmp_path,
                                          capsys):
    ckpt, _ = soco_ckpt
    cfg = str(tmp_path / 'none.py')
    assert tool.main([ckpt, str(tmp_path / 'o.pth'), '--check', cfg]) == 1
    assert f'detector config not found: {cfg}' in capsys.readouterr().err


def test_checkpoint_without_weights_is_named(tool, tmp_path, capsys):
    ckpt = tmp_path / 'log_only.pth'
    torch.save(dict(meta=dict(epoch=1), optimizer=dict(state={})), ckpt)
    assert tool.main([str(ckpt), str(tmp_path / 'o.pth')]) == 1
    err = capsys.readouterr().err
    assert f'{ckpt} holds no model weights' in err
    assert "['meta', 'optimizer']" in err


def test_a_file_that_is_no_checkpoint_is_named(tool, tmp_path, capsys):
    junk = tmp_path / 'notes.pth'
    junk.write_text('not a checkpoint')
    assert tool.main([str(junk), str(tmp_path / 'o.pth')]) == 1
    assert f'{junk} is not a readable PyTorch checkpoint' in \
        capsys.readouterr().err


def test_a_checkpoint_pickling_code_is_refused(tool, tmp_path, capsys):
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'a': torch.zeros(1)}, 'hook': print}, evil)
    assert tool.main([str(evil), str(tmp_path / 'o.pth')]) == 1
    err = capsys.readouterr().err
    assert f"Refusing to load checkpoint '{evil}'" in err and '`print`' in err


def test_other_method_is_refused_naming_both(soco_ckpt, tool, tmp_path,
                                             capsys):
    ckpt, _ = soco_ckpt
    assert tool.main([ckpt, str(tmp_path / 'o.pth'), '--method',
                      'crosscl']) == 1
    err = capsys.readouterr().err
    assert f"{ckpt} is a soco checkpoint (from its config model type " \
        "'SoCo') but --method crosscl was given" in err


def test_unknown_method_is_refused(tool, tmp_path, capsys):
    state = {'backbone.conv1.weight': torch.zeros(4, 3, 7, 7)}
    ckpt = save_training_checkpoint(tmp_path / 's.pth', state,
                                    "model = dict(type='SimCLR')\n")
    assert tool.main([ckpt, str(tmp_path / 'o.pth')]) == 1
    err = capsys.readouterr().err
    assert "was trained as model type 'SimCLR'" in err and ckpt in err


def test_an_export_is_not_exported_again(soco_ckpt, tool, tmp_path, capsys):
    ckpt, _ = soco_ckpt
    first = tmp_path / 'first.pth'
    assert tool.main([ckpt, str(first)]) == 0
    assert tool.main([str(first), str(tmp_path / 'again.pth')]) == 1
    assert 'already is an mmalfm export' in capsys.readouterr().err


def test_missing_keys_without_check_warn_loudly_with_the_count(
        soco_ckpt, tool, tmp_path, capsys):
    """A truncated checkpoint (layer4.1 lost: 12 tensors of a BasicBlock):
    written, with a warning counting the keys the R18 layout of its config
    expects."""
    ckpt, state = soco_ckpt
    cut = {k: v for k, v in state.items()
           if not k.startswith('backbone.layer4.1.')}
    text = load_checkpoint(ckpt)['meta']['cfg']
    cut_ckpt = save_training_checkpoint(tmp_path / 'cut.pth', cut, text)
    with pytest.warns(UserWarning, match='lacks 12 and mis-shapes 0'):
        assert tool.main([cut_ckpt, str(tmp_path / 'o.pth')]) == 0
    captured = capsys.readouterr()
    assert 'WARNING: the export lacks 12' in captured.err
    assert 'backbone.layer4.1.conv1.weight' in captured.out


def test_with_neck_for_a_method_without_fpn_is_refused(tool, tmp_path,
                                                       capsys):
    """BYOL's `neck` is its projector: never exported as an FPN."""
    model, text = build_pretrainer(
        'configs/byol/byol_resnet18_1xb16-10e_demo.py')
    state = model.state_dict()
    ckpt = save_training_checkpoint(tmp_path / 'byol.pth', state, text)
    assert tool.main([ckpt, str(tmp_path / 'o.pth'), '--with-neck']) == 1
    assert 'byol has no detection neck' in capsys.readouterr().err
    out = tmp_path / 'byol_mmdet.pth'
    assert tool.main([ckpt, str(out)]) == 0
    exported = load_checkpoint(out)['state_dict']
    assert set(exported) == {k for k in state if k.startswith('backbone.')}


@pytest.mark.parametrize('method', ['alfm', 'crosscl', 'dupr'])
def test_other_methods_demo_exports_load(method, tool, tmp_path):
    """Every method's demo checkpoint: export (its released profile), then
    init_weights loads it with zero missing backbone keys and the online
    tensors."""
    import mmalfm.models  # noqa: F401
    from mmalfm.registry import MODELS
    configs = sorted((REPO / 'configs' / method).glob('*demo*.py'))
    cls = {'alfm': 'ALFM', 'crosscl': 'CrossCL', 'dupr': 'DUPR'}[method]
    assert MODELS.get(cls) is not None and configs, method
    model, text = build_pretrainer(str(configs[0].relative_to(REPO)))
    state = model.state_dict()
    randomize_(state, 3)
    ckpt = save_training_checkpoint(tmp_path / 'm.pth', state, text)
    # released profiles (CrossCL with its partial FPN mapped into mmdet's)
    flags = {'alfm': ['--with-neck', '--with-head'],
             'crosscl': ['--with-neck']}.get(method, [])
    out = tmp_path / 'm_mmdet.pth'
    init = f"dict(type='mmalfm.PretrainedExport', checkpoint='{out}')"
    _, det_cfg = build_detector(demo_detector_cfg('None'), tmp_path)
    assert tool.main([ckpt, str(out), *flags, '--check', det_cfg]) == 0
    det, _ = build_detector(demo_detector_cfg(init), tmp_path, 'det2.py')
    det.init_weights()
    loaded = det.state_dict()
    exported = load_checkpoint(out)['state_dict']
    assert {k for k in exported if k.startswith('backbone.')} == \
        {k for k in loaded if k.startswith('backbone.')}
    for key, value in exported.items():
        assert torch.equal(loaded[key], value), key
        if key in state:
            assert torch.equal(value, state[key]), key
    if method == 'crosscl':
        from mmalfm.models.necks import PartialFPN
        for ours, theirs in PartialFPN.mmdet_key_map(
                c3_index=1, with_bias=False, prefix='neck.').items():
            assert torch.equal(loaded[theirs], state[ours]), theirs
    if method == 'alfm':
        assert sum(k.startswith(('neck.', 'roi_head.bbox_head.'))
                   for k in exported) == 48 + 26
