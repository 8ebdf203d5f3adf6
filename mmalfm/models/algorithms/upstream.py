# Copyright (c) mmalfm contributors. All rights reserved.
"""Transfer declarations of the MMPretrain baselines (``BYOL``, ``MoCo``,
``DenseCL``), whose classes we do not own (see
:mod:`mmalfm.structures.transfer`; ours declare theirs as a class
attribute)."""
from mmalfm.structures.transfer import TransferSpec, declare_transfer

__all__ = ['register_upstream_transfers']

#: Groups of MMPretrain's self-supervisors that no detector has.
_MMPRETRAIN_DROPS = dict(
    neck="the method's MLP neck (not a detection neck)",
    head='pretraining head (global MLP / predictor / loss)',
    projector='projector MLP',
    predictor='predictor MLP')
_QUEUE_DROPS = dict(
    _MMPRETRAIN_DROPS,
    encoder_k='momentum (key) encoder',
    queue='negative queue',
    queue_ptr='negative queue pointer')


def register_upstream_transfers() -> None:
    """Declare what MMPretrain's BYOL, MoCo (v2) and DenseCL transfer: the
    backbone only (their necks are projector MLPs)."""
    from mmpretrain.models import BYOL, DenseCL, MoCo

    # mmpretrain BYOL: the EMA target is Sequential(backbone, neck)
    declare_transfer(
        BYOL,
        TransferSpec(
            name='byol',
            drops=_MMPRETRAIN_DROPS,
            key_signature='target_net.module.0.'))
    declare_transfer(
        MoCo,
        TransferSpec(
            name='mocov2',
            ema_prefixes=('momentum_encoder.', ),
            drops=dict(_QUEUE_DROPS,
                       momentum_encoder='momentum (key) encoder'),
            key_signature='momentum_encoder.'),
        aliases=('MoCoV2', ))
    declare_transfer(
        DenseCL,
        TransferSpec(
            name='densecl',
            ema_prefixes=('encoder_k.', ),
            drops=_QUEUE_DROPS,
            key_signature='encoder_k.'))


register_upstream_transfers()
