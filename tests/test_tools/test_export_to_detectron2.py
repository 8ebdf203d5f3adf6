# Copyright (c) mmalfm contributors. All rights reserved.
"""tools/model_converters/export_to_detectron2.py: detectron2's model-zoo
file format, the key mapping rules on the SoCo demo model, and a round trip
back to our names that restores every exported tensor exactly."""
import pickle
import re

import numpy as np
import pytest
import torch

from conftest import load_tool

from mmalfm.apis import export_detectron2_cli
from mmalfm.apis.export import detectron2_to_mmdet, load_detectron2_export

_mmdet_tests = load_tool('tests/test_tools/test_export_to_mmdet.py')

#: Every name detectron2 gets (ResNet parts bare for suffix matching in FPN
#: and C4 models; FPN and box head by their full detectron2 names).
D2_NAME = re.compile(
    r'^(stem\.conv1(\.norm)?|res[2-5]\.\d+\.(conv[1-3](\.norm)?|'
    r'shortcut(\.norm)?)|backbone\.fpn_(lateral|output)[2-5](\.norm)?|'
    r'roi_heads\.box_head\.(conv[1-4](\.norm)?|fc1))\.'
    r'(weight|bias|running_mean|running_var)$')


@pytest.fixture(scope='module')
def tool():
    return export_detectron2_cli


@pytest.fixture(scope='module')
def soco_ckpt(tmp_path_factory):
    return _mmdet_tests.soco_demo_checkpoint(
        tmp_path_factory.mktemp('soco_d2') / 'e.pth')


def test_pkl_is_detectron2_model_zoo_format(soco_ckpt, tool, tmp_path,
                                            capsys):
    """What DetectionCheckpointer._load_file needs for a .pkl: a plain
    pickle with `model` (NumPy arrays) and `__author__`, plus
    `matching_heuristics: True`."""
    ckpt, state = soco_ckpt
    out = tmp_path / 'soco_d2.pkl'
    assert tool.main([ckpt, str(out), '--with-neck', '--with-head']) == 0
    assert 'matching_heuristics: True' in capsys.readouterr().out
    with open(out, 'rb') as f:  # exactly as detectron2 reads it
        data = pickle.load(f, encoding='latin1')
    assert data['__author__'] == 'mmalfm export_to_detectron2 (soco)'
    assert data['matching_heuristics'] is True
    assert data['mmalfm_export']['fpn_level_offset'] == 2
    model = data['model']
    assert all(isinstance(v, np.ndarray) for v in model.values())
    bad = [k for k in model if not D2_NAME.match(k)]
    assert bad == []
    online = [k for k in state
              if k.startswith(('backbone.', 'neck.', 'roi_head.bbox_head.'))
              and not k.endswith('num_batches_tracked')]
    # BN counters dropped: 20 backbone + 8 FPN + 4 head norms
    assert len(model) == len(online) == 194 - 32
    # spot checks of the renaming on real names
    pairs = {
        'stem.conv1.weight': 'backbone.conv1.weight',
        'res5.0.shortcut.norm.running_var':
        'backbone.layer4.0.downsample.1.running_var',
        'res3.1.conv2.norm.weight': 'backbone.layer2.1.bn2.weight',
        'backbone.fpn_lateral5.norm.bias': 'neck.lateral_convs.3.bn.bias',
        'backbone.fpn_output2.weight': 'neck.fpn_convs.0.conv.weight',
        'roi_heads.box_head.conv4.norm.weight':
        'roi_head.bbox_head.shared_convs.3.bn.weight',
        'roi_heads.box_head.fc1.weight':
        'roi_head.bbox_head.shared_fcs.0.weight',
    }
    for d2, ours in pairs.items():
        assert np.array_equal(model[d2], state[ours].numpy()), d2
    # flatten order (C, H, W) is shared: fc1 is not permuted
    assert model['roi_heads.box_head.fc1.weight'].shape == (256, 64 * 7 * 7)


def test_round_trip_restores_every_tensor(soco_ckpt, tool, tmp_path):
    ckpt, state = soco_ckpt
    out = tmp_path / 'soco_d2.pkl'
    assert tool.main([ckpt, str(out), '--with-neck', '--with-head']) == 0
    data = load_detectron2_export(str(out))  # safe unpickler
    back = detectron2_to_mmdet(data['model'],
                               data['mmalfm_export']['fpn_level_offset'])
    expected = [k for k in state
                if k.startswith(('backbone.', 'neck.', 'roi_head.bbox_head.'))
                and not k.endswith('num_batches_tracked')]
    assert sorted(back) == sorted(expected)
    for key in expected:
        assert back[key].dtype == state[key].dtype, key
        assert torch.equal(back[key], state[key]), key


def test_pth_suffix_writes_tensors(soco_ckpt, tool, tmp_path):
    ckpt, state = soco_ckpt
    out = tmp_path / 'soco_d2.pth'
    assert tool.main([ckpt, str(out)]) == 0
    data = load_detectron2_export(str(out))
    assert data['matching_heuristics'] is True and '__author__' in data
    assert all(isinstance(v, torch.Tensor) for v in data['model'].values())
    back = detectron2_to_mmdet(data['model'])
    assert set(back) == {k for k in state if k.startswith('backbone.')
                         and not k.endswith('num_batches_tracked')}


def test_c4_keeps_res5_and_refuses_fpn_parts(soco_ckpt, tool, tmp_path,
                                             capsys):
    ckpt, state = soco_ckpt
    out = tmp_path / 'c4.pkl'
    assert tool.main([ckpt, str(out), '--c4']) == 0
    model = load_detectron2_export(str(out))['model']
    assert np.array_equal(model['res5.1.conv2.weight'],
                          state['backbone.layer4.1.conv2.weight'].numpy())
    assert tool.main([ckpt, str(out), '--c4', '--with-head']) == 1
    assert '--c4 exports backbone + res5' in capsys.readouterr().err


def test_safe_reader_refuses_code(tmp_path):
    evil = tmp_path / 'evil.pkl'
    with open(evil, 'wb') as f:
        pickle.dump({'model': {}, 'x': print}, f)
    with pytest.raises(pickle.UnpicklingError, match='builtins.print'):
        load_detectron2_export(str(evil))


def test_bad_inputs_are_named(soco_ckpt, tool, tmp_path, capsys):
    ckpt, _ = soco_ckpt
    missing = str(tmp_path / 'none.pth')
    assert tool.main([missing, str(tmp_path / 'o.pkl')]) == 1
    assert f'Checkpoint not found: {missing}' in capsys.readouterr().err
    assert tool.main([ckpt, str(tmp_path / 'o.pkl'), '--method', 'byol']) \
        == 1
    assert 'is a soco checkpoint' in capsys.readouterr().err
