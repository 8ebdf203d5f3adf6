# mmdet's ResNet-50 (PyTorch style, SyncBN, nothing frozen, standard init)
# with C2-C5 outputs: the backbone of DUPR, CrossCL (C3-C5, BN) and the
# SoCo / ALFM trunk (zero-gamma), whose model bases inherit this file and
# change only what differs. Its keys are those of mmdet's detectors.
_base_ = ['./selfsup_data_preprocessor.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        type='mmdet.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        zero_init_residual=False))
