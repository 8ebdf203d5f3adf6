# Copyright (c) mmalfm contributors. All rights reserved.
"""mmalfm.structures.transfer: the methods' transfer declarations and their
lookup through the MODELS registries."""
import pytest

import mmalfm  # noqa: F401  (registers the algorithms)
from mmalfm.models.algorithms import ALFM, SoCo
from mmalfm.registry import MODELS
from mmalfm.structures import (TransferDeclarationError, TransferSpec,
                               declare_transfer, find_transfer_spec,
                               transfer_specs)
from mmalfm.structures.transfer import COMMON_DROPS, training_only_groups


@pytest.mark.parametrize('model_type,name', [
    ('SoCo', 'soco'),
    ('mmalfm.SoCo', 'soco'),
    ('ALFM', 'alfm'),
    ('mmalfm.CrossCL', 'crosscl'),
    ('DUPR', 'dupr'),
    ('BYOL', 'byol'),
    ('mmpretrain.BYOL', 'byol'),
    ('mmpretrain.MoCo', 'mocov2'),
    ('MoCoV2', 'mocov2'),
    ('DenseCL', 'densecl'),
])
def test_lookup_by_type_with_and_without_scope(model_type, name):
    assert find_transfer_spec(model_type).name == name


def test_our_algorithms_declare_as_a_class_attribute():
    assert find_transfer_spec(SoCo) is SoCo.transfer
    assert find_transfer_spec('mmalfm.ALFM') is ALFM.transfer
    assert ALFM.transfer.export_flags == ('--with-neck', '--with-head')
    assert find_transfer_spec('CrossCL').neck == 'partial_fpn'
    assert find_transfer_spec('DUPR').export_flags == ()
    assert find_transfer_spec('BYOL').neck is None
    # the class-body import does not stay behind as an attribute
    assert not hasattr(SoCo, '_TransferSpec')


def test_every_declaration_is_listed_ours_first():
    specs = transfer_specs()
    # a plugin imported earlier in this process (tests/test_plugin_method.py
    # registers one) is listed too, among ours
    builtin = [name for name in specs if name != 'toyregion']
    assert builtin == ['soco', 'alfm', 'crosscl', 'dupr', 'byol', 'mocov2',
                       'densecl']
    assert all(spec.name == name for name, spec in specs.items())


def test_undeclared_class_gets_a_clear_error():
    # registered (the shared base), but it declares nothing
    with pytest.raises(TransferDeclarationError) as err:
        find_transfer_spec('RegionSelfSupervisor')
    message = str(err.value)
    assert message.startswith("model type 'RegionSelfSupervisor' "
                              '(mmalfm.models.algorithms.base.'
                              'RegionSelfSupervisor) declares nothing to '
                              'transfer')
    assert '`transfer = TransferSpec(' in message
    assert 'declare_transfer(cls, spec)' in message
    # MMPretrain's SimSiam: registered there, declared by nobody
    with pytest.raises(TransferDeclarationError,
                       match="'mmpretrain.SimSiam' .* declares nothing"):
        find_transfer_spec('mmpretrain.SimSiam')


@pytest.mark.parametrize('model_type', ['mmpretrain.SoCo', 'SoCoo',
                                        'mmdet.FasterRCNN'])
def test_unregistered_type_is_named(model_type):
    with pytest.raises(TransferDeclarationError,
                       match=f"model type '{model_type}' is in neither the "
                       'mmalfm nor the mmpretrain MODELS registry'):
        find_transfer_spec(model_type)


def test_a_new_subclass_declares_itself():
    spec = TransferSpec(name='toy', neck='fpn', drops=dict(toy_head='toy'))

    class ToySoCo(SoCo):
        transfer = spec

    MODELS.register_module(name='ToySoCoForTransferTest', module=ToySoCo)
    try:
        assert find_transfer_spec('mmalfm.ToySoCoForTransferTest') is spec
        assert transfer_specs()['toy'] is spec
        assert 'toy_head' in training_only_groups()
    finally:
        MODELS._module_dict.pop('ToySoCoForTransferTest')
    assert 'toy' not in transfer_specs()


def test_drop_reasons_own_first_then_common():
    soco = find_transfer_spec('SoCo')
    assert soco.drop_reason('projector') == 'projector MLP'
    assert soco.drop_reason('target_net') == COMMON_DROPS['target_net']
    assert soco.drop_reason('queue') == ''
    assert find_transfer_spec('MoCo').drop_reason('queue') == \
        'negative queue'
    with pytest.raises(TypeError):
        soco.drops['projector'] = 'x'  # read-only


def test_training_only_groups_exclude_detector_parts():
    groups = training_only_groups()
    assert {'target_net', 'projector', 'predictor', 'queue', 'head',
            'data_preprocessor', 'encoder_k', 'cdlp_head'} <= set(groups)
    assert not {'backbone', 'neck', 'roi_head', 'rpn_head'} & set(groups)


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="neck must be 'fpn'"):
        TransferSpec(name='x', neck='bifpn')
    with pytest.raises(ValueError, match='box head is exported with'):
        TransferSpec(name='x', box_head=True)

    class Other:
        pass

    with pytest.raises(ValueError, match="'soco' of Other clashes"):
        declare_transfer(Other, TransferSpec(name='soco'))
