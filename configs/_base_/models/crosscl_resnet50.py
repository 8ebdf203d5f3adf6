# CrossCL R50 (as released): ResNet-50 (BN, standard Kaiming fan-out
# init, zero_init_residual=False) giving C3-C5, the partial FPN (P3/P4
# outputs, detectron2 names, bias, no norm); heads.moco: MoCo v2 global MLP
# 2048 -> 2048 -> 128 (no BN) and a 65536-key queue; heads.region: regional
# InfoNCE on P3/P4 with 1x1 PrRoIPool, dense 3x3/s1 key negatives (P4
# gathered, P3 local), T 0.2.
# Key encoder = EMA (keep rate 0.999) of backbone + neck + global MLP with
# ShuffleBN. Backbone keys are those of mmdet's Mask R-CNN R50-FPN.
# SyncBN alternative: norm_cfg = dict(type='SyncBN') and shuffle_bn=False.
_base_ = ['./mocov2_global_branch.py', './mmdet_resnet50.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='CrossCL',
    backbone=dict(out_indices=(1, 2, 3), norm_cfg=norm_cfg),
    neck=dict(
        type='PartialFPN', in_channels=(512, 1024, 2048), out_channels=256),
    heads=dict(
        # MoCo v2 (../_base_/models/mocov2_global_branch.py) on avgpool(C5)
        moco=dict(
            type='MoCoGlobalHead',
            neck={{_base_.mocov2_global_neck}},
            head={{_base_.mocov2_global_head}}),
        # the four regional InfoNCE terms on P3/P4
        region=dict(
            type='CrossStageRegionHead',
            loss=dict(type='InfoNCELoss', temperature=0.2),
            # = the views' side (the window grid is the sampler's)
            view_size=224,
            # (kernel, stride) in cells; 384 px: (4, 2), 480: (5, 2)
            neg_pool=(3, 1),
            level_strides=(8, 16),
            gather_p4=True,  # released: P4 negatives all-gathered
            # released: P3 negatives per GPU (GPU-count dependent)
            gather_p3=False,
            loss_weights=dict(p4=1., p3=1., p4_p3=1., p3_p4=1.),
            # mmcv PrRoIPool on CUDA, exact torch form on CPU
            prroi_impl=None)),
    shuffle_bn=True,
    # MMEngine update-rate convention: momentum 0.001 = keep rate 0.999
    target_ema=dict(type='ExponentialMovingAverage', momentum=0.001),
    batch_views=False)
