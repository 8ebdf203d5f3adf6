# Copyright (c) mmalfm contributors. All rights reserved.
"""mmalfm.apis.export: method recognition, layouts, selection, the check
and the detectron2 renaming rules (hand-made state dicts, no tools)."""
from collections import OrderedDict

import pytest
import torch
from mmdet.models.backbones import ResNet

from mmalfm.models.necks import PartialFPN
from mmalfm.apis.export import (ExportError, check_export, detect_method,
                                detectron2_to_mmdet, export_methods,
                                export_mmdet, mmdet_to_detectron2,
                                partial_fpn_target, resnet_layout)

METHODS = export_methods()


def r18q(prefix='backbone.', **kw) -> 'OrderedDict':
    """The demo backbone's state dict (16/32/64/128 channels)."""
    net = ResNet(depth=18, stem_channels=16, base_channels=16, **kw)
    return OrderedDict((prefix + k, v) for k, v in net.state_dict().items())


def crosscl_state() -> 'OrderedDict':
    """CrossCL-like: r18q + PartialFPN 64 + global MLP + queue + EMA."""
    state = r18q()
    fpn = PartialFPN(in_channels=(32, 64, 128), out_channels=64)
    for k, v in fpn.state_dict().items():
        state['neck.' + k] = v.clone().normal_()
    state['global_neck.mlp.0.weight'] = torch.zeros(8, 128)
    state['queue'] = torch.zeros(8, 16)
    state.update({'target_net.module.' + k: v for k, v in list(
        state.items()) if k.startswith(('backbone.', 'neck.'))})
    return state


# ---------------------------------------------------------------- methods
def test_every_method_is_declared():
    # (a plugin imported earlier in this process adds its own)
    assert [m for m in METHODS if m != 'toyregion'] == [
        'soco', 'alfm', 'crosscl', 'dupr', 'byol', 'mocov2', 'densecl']
    assert METHODS['soco'].neck == 'fpn' and METHODS['soco'].box_head
    assert METHODS['alfm'].neck == 'fpn' and METHODS['alfm'].box_head
    assert METHODS['crosscl'].neck == 'partial_fpn'
    assert not METHODS['crosscl'].box_head
    assert METHODS['byol'].neck is None


@pytest.mark.parametrize('cfg_type,method', [('SoCo', 'soco'),
                                             ('mmalfm.ALFM', 'alfm'),
                                             ('CrossCL', 'crosscl'),
                                             ('DUPR', 'dupr'),
                                             ('BYOL', 'byol'),
                                             ('MoCo', 'mocov2')])
def test_method_from_the_stored_config(cfg_type, method):
    meta = dict(cfg=f"model = dict(type='{cfg_type}', backbone=dict())\n")
    spec, how = detect_method({}, meta)
    assert spec.name == method
    assert how == f"config model type '{cfg_type.split('.')[-1]}'"


def test_method_from_unique_key_layouts():
    assert detect_method(crosscl_state(), {})[0].name == 'crosscl'
    byol = {'backbone.conv1.weight': torch.zeros(1),
            'target_net.module.0.conv1.weight': torch.zeros(1)}
    assert detect_method(byol, {})[0].name == 'byol'
    # SoCo / ALFM / DUPR share the region layout: ambiguous without config
    region = {'backbone.conv1.weight': torch.zeros(1),
              'target_net.module.backbone.conv1.weight': torch.zeros(1)}
    with pytest.raises(ExportError, match='Cannot tell the method of x.pth'):
        detect_method(region, {}, path='x.pth')
    assert detect_method(region, {}, 'alfm')[0].name == 'alfm'


def test_method_mismatch_names_both():
    with pytest.raises(ExportError) as err:
        detect_method(crosscl_state(), {}, 'soco', path='c.pth')
    assert str(err.value).startswith(
        'c.pth is a crosscl checkpoint (from its state-dict key layout) but '
        '--method soco was given')


def test_unknown_config_type_needs_an_explicit_method():
    meta = dict(cfg="model = dict(type='SimSiam')\n")
    with pytest.raises(ExportError, match="model type 'SimSiam'") as err:
        detect_method({}, meta, path='s.pth')
    # registered in MMPretrain, but it declares nothing to transfer
    assert 'declares nothing to transfer' in str(err.value)
    with pytest.warns(UserWarning, match="'SimSiam' is unknown"):
        assert detect_method({}, meta, 'byol')[0].name == 'byol'


# ---------------------------------------------------------------- layouts
@pytest.mark.parametrize('depth,block,blocks,stages', [
    (18, 'basic', (2, 2, 2, 2), (16, 32, 64, 128)),
    (50, 'bottleneck', (3, 4, 6, 3), (64, 128, 256, 512)),
])
def test_resnet_layout(depth, block, blocks, stages):
    net = ResNet(depth=depth, stem_channels=16, base_channels=16)
    layout = resnet_layout(net.state_dict())
    assert layout == dict(block=block, blocks=blocks, depth=depth,
                          stem_channels=16, base_channels=16,
                          stage_channels=stages)


def test_non_resnet_backbone_is_refused():
    with pytest.raises(ExportError, match='no `conv1.weight`'):
        resnet_layout({'stem.0.weight': torch.zeros(1)})


# --------------------------------------------------------------- selection
def test_crosscl_partial_fpn_to_mmdet_fpn():
    """P3-P5 laterals and P3/P4 outputs land at the indices of a
    start_level=0 FPN over C2-C5; biases dropped for a norm FPN."""
    state = crosscl_state()
    res = export_mmdet(state, METHODS['crosscl'], with_neck=True,
                       partial_fpn_c3_index=1, partial_fpn_bias=False)
    neck = {k: v for k, v in res.state_dict.items() if k.startswith('neck.')}
    assert sorted(neck) == [
        'neck.fpn_convs.1.conv.weight', 'neck.fpn_convs.2.conv.weight',
        'neck.lateral_convs.1.conv.weight', 'neck.lateral_convs.2.conv.weight',
        'neck.lateral_convs.3.conv.weight'
    ]
    assert torch.equal(neck['neck.lateral_convs.3.conv.weight'],
                       state['neck.fpn_lateral5.weight'])
    assert torch.equal(neck['neck.fpn_convs.1.conv.weight'],
                       state['neck.fpn_output3.weight'])
    assert res.dropped['neck biases (downstream FPN convs are bias-free)'][
        0] == 5
    assert res.dropped['target_net'][0] == len(
        [k for k in state if k.startswith('target_net.')])
    assert res.dropped['global_neck'][0] == 1 and res.dropped['queue'][0] == 1
    assert res.fpn == dict(partial=True, bias=False, level_offset=2)
    # default: backbone only (as released), the FPN dropped as not requested
    res = export_mmdet(state, METHODS['crosscl'])
    assert set(res.state_dict) == {k for k in state
                                   if k.startswith('backbone.')}
    assert res.missing == [] and res.mismatched == []


def test_partial_fpn_target_reads_the_detector():
    from mmdet.models.necks import FPN
    det = r18q()
    for start, c3 in ((0, 1), (1, 0)):
        fpn = FPN([16, 32, 64, 128], 64, 4 - start, start_level=start)
        full = dict(det, **{'neck.' + k: v
                            for k, v in fpn.state_dict().items()})
        assert partial_fpn_target(full) == (c3, True)
    fpn = FPN([16, 32, 64, 128], 64, 4, norm_cfg=dict(type='BN'))
    full = dict(det, **{'neck.' + k: v for k, v in fpn.state_dict().items()})
    assert partial_fpn_target(full) == (1, False)


@pytest.mark.parametrize('flags,match', [
    (dict(c4=True, with_neck=True), '--c4 exports backbone \\+ res5'),
    (dict(with_head=True), 'crosscl pretrains no box head'),
])
def test_invalid_flag_combinations(flags, match):
    with pytest.raises(ExportError, match=match):
        export_mmdet(crosscl_state(), METHODS['crosscl'], **flags)


def test_fpn_method_without_fpn_is_refused():
    with pytest.raises(ExportError, match='d.pth has no mmdet FPN'):
        export_mmdet(r18q(), METHODS['dupr'], with_neck=True, path='d.pth')


def test_missing_backbone_keys_are_counted_against_the_depth():
    state = r18q()
    del state['backbone.layer3.1.conv2.weight']
    state['backbone.layer1.0.conv1.weight'] = torch.zeros(16, 16, 1, 1)
    res = export_mmdet(state, METHODS['byol'])
    assert res.missing == ['backbone.layer3.1.conv2.weight']
    assert res.mismatched == [
        'backbone.layer1.0.conv1.weight: export (16, 16, 1, 1) vs expected '
        '(16, 16, 3, 3)'
    ]


# ------------------------------------------------------------------ check
def test_check_export_rules():
    det = {
        'backbone.conv1.weight': (4, 3, 7, 7),
        'backbone.bn1.num_batches_tracked': (),
        'neck.lateral_convs.0.conv.weight': (8, 4, 1, 1),
        'neck.fpn_convs.0.conv.weight': (8, 8, 3, 3),
        'neck.fpn_convs.1.conv.weight': (8, 8, 3, 3),  # extra level
        'roi_head.shared_head.layer4.0.conv1.weight': (2, 2, 1, 1),
        'roi_head.shared_head.layer4.norm.weight': (2, ),  # extra norm
        'rpn_head.rpn_conv.weight': (8, 8, 3, 3),
    }
    export = {
        'backbone.conv1.weight': torch.zeros(4, 3, 7, 7),
        'neck.lateral_convs.0.conv.weight': torch.zeros(8, 5, 1, 1),
        'roi_head.shared_head.layer4.0.conv1.weight': torch.zeros(2, 2, 1, 1),
        'neck.extra.weight': torch.zeros(1),
    }
    rep = check_export(export, det, ['backbone', 'neck',
                                     'roi_head.shared_head'])
    assert rep.missing == ['neck.fpn_convs.0.conv.weight']
    assert rep.mismatched == ['neck.lateral_convs.0.conv.weight: export '
                              '(8, 5, 1, 1) vs detector (8, 4, 1, 1)']
    assert rep.unexpected == ['neck.extra.weight']
    assert rep.fresh == {'neck': 2, 'roi_head.shared_head': 1,
                         'rpn_head': 1}
    assert not rep.ok
    # backbone-only: the neck is no requirement
    rep = check_export({'backbone.conv1.weight': torch.zeros(4, 3, 7, 7)},
                       det, ['backbone'])
    assert rep.ok


# ------------------------------------------------------------- detectron2
MAPPING = {
    'backbone.conv1.weight': 'stem.conv1.weight',
    'backbone.bn1.running_mean': 'stem.conv1.norm.running_mean',
    'backbone.layer1.0.conv2.weight': 'res2.0.conv2.weight',
    'backbone.layer1.1.bn2.bias': 'res2.1.conv2.norm.bias',
    'backbone.layer3.0.downsample.0.weight': 'res4.0.shortcut.weight',
    'backbone.layer3.0.downsample.1.running_var':
    'res4.0.shortcut.norm.running_var',
    'backbone.layer4.2.bn3.weight': 'res5.2.conv3.norm.weight',
    'roi_head.shared_head.layer4.0.conv1.weight': 'res5.0.conv1.weight',
    'neck.lateral_convs.0.conv.weight': 'backbone.fpn_lateral2.weight',
    'neck.lateral_convs.3.bn.weight': 'backbone.fpn_lateral5.norm.weight',
    'neck.fpn_convs.1.conv.bias': 'backbone.fpn_output3.bias',
    'neck.fpn_convs.2.bn.running_mean':
    'backbone.fpn_output4.norm.running_mean',
    'roi_head.bbox_head.shared_convs.0.conv.weight':
    'roi_heads.box_head.conv1.weight',
    'roi_head.bbox_head.shared_convs.3.bn.running_var':
    'roi_heads.box_head.conv4.norm.running_var',
    'roi_head.bbox_head.shared_fcs.0.weight': 'roi_heads.box_head.fc1.weight',
    'roi_head.bbox_head.shared_fcs.0.bias': 'roi_heads.box_head.fc1.bias',
}


def test_detectron2_mapping_rules():
    export = OrderedDict((k, torch.full((1, ), float(i)))
                         for i, k in enumerate(MAPPING))
    export['backbone.bn1.num_batches_tracked'] = torch.tensor(3)
    d2 = mmdet_to_detectron2(export)
    assert list(d2) == list(MAPPING.values())  # counters dropped
    for src, dst in MAPPING.items():
        assert torch.equal(d2[dst], export[src])


def test_detectron2_level_offset_for_a_start_level_1_fpn():
    d2 = mmdet_to_detectron2(
        {'neck.lateral_convs.0.conv.weight': torch.zeros(1)}, 3)
    assert list(d2) == ['backbone.fpn_lateral3.weight']
    back = detectron2_to_mmdet(d2, 3)
    assert list(back) == ['neck.lateral_convs.0.conv.weight']


def test_detectron2_round_trip_restores_names():
    mmdet_names = [k for k in MAPPING
                   if not k.startswith('roi_head.shared_head')]
    export = OrderedDict((k, torch.randn(2)) for k in mmdet_names)
    back = detectron2_to_mmdet(
        {k: v.numpy() for k, v in mmdet_to_detectron2(export).items()})
    assert list(back) == mmdet_names
    for k in mmdet_names:
        assert torch.equal(back[k], export[k])
    c4 = detectron2_to_mmdet({'res5.0.conv1.weight': torch.zeros(1)},
                             c4=True)
    assert list(c4) == ['roi_head.shared_head.layer4.0.conv1.weight']


def test_detectron2_names_of_the_partial_fpn_are_the_released_ones():
    """Through the mmdet export: the d2 FPN names equal
    PartialFPN.detectron2_key_map (CrossCL's released converter)."""
    state = crosscl_state()
    res = export_mmdet(state, METHODS['crosscl'], with_neck=True,
                       partial_fpn_c3_index=1, partial_fpn_bias=True)
    d2 = mmdet_to_detectron2(res.state_dict, res.fpn['level_offset'])
    expected = PartialFPN.detectron2_key_map(prefix='neck.')
    for ours, theirs in expected.items():
        assert torch.equal(d2[theirs], state[ours]), theirs
    assert {k for k in d2 if 'fpn' in k} == set(expected.values())


def test_unknown_keys_have_no_detectron2_name():
    with pytest.raises(ExportError, match="'projector.0.weight'"):
        mmdet_to_detectron2({'projector.0.weight': torch.zeros(1)})
    with pytest.raises(ExportError, match="'foo.bar'"):
        detectron2_to_mmdet({'foo.bar': torch.zeros(1)})
