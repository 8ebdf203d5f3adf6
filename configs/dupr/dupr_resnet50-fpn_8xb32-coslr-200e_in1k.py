# DUPR FPN variant (our ablation [D], see README.md): the patch heads act on
# mmdet FPN P3-P5 (256 ch, SyncBN) instead of C3-C5; the FPN (P2-P5, the
# layout of mmdet's Mask R-CNN R50-FPN, so that it exports with
# `--with-neck`) is part of the online network and of the momentum encoder.
# P2 (lateral_convs.0 / fpn_convs.0) receives no gradient. The global branch
# stays on avgpool(C5).
_base_ = ['./dupr_resnet50_8xb32-coslr-200e_in1k.py']

model = dict(
    neck=dict(
        type='mmdet.FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=0,
        add_extra_convs=False,
        num_outs=4,
        norm_cfg={{_base_.norm_cfg}}),
    heads=dict(reid=dict(levels=(1, 2, 3))))  # neck outputs: P3, P4, P5
# the P2 branch of the FPN is unused in pretraining
find_unused_parameters = True
