# DUPR R50 (our reconstruction [D]): mmdet ResNet-50 (SyncBN,
# standard init) with C2-C5 outputs; MoCo v2 global branch (MLP 2048 -> 2048
# -> 128 on avgpool(C5), queue 65536, T 0.2) and patch re-identification at
# C3, C4, C5 (RoIAlign 7x7 aligned -> avg -> C_l -> 2048 -> 128 with BN+ReLU
# hidden -> L2-norm; InfoNCE with the same-image gallery + a 16384 queue per
# level, T 0.2). Constant EMA 0.999 over backbone + global MLP + patch MLPs.
# Two heads: `heads.moco` (MoCoGlobalHead) and `heads.reid` (PatchReIDHead).
# Backbone keys are those of mmdet's ResNet-50 (`backbone.*`).
# The backbone is mmdet_resnet50.py's, unchanged.
_base_ = ['./mocov2_global_branch.py', './mmdet_resnet50.py']
model = dict(
    type='DUPR',
    heads=dict(
        # MoCo v2 (../_base_/models/mocov2_global_branch.py)
        moco=dict(
            type='MoCoGlobalHead',
            neck={{_base_.mocov2_global_neck}},
            head={{_base_.mocov2_global_head}}),
        reid=dict(
            type='PatchReIDHead',
            # [D] per-level patch MLP (in_channels filled per level): global
            # average of the 7x7 RoI bins, Linear-BN-ReLU-Linear, no last BN.
            patch_neck=dict(
                type='NonLinearNeck',
                hid_channels=2048,
                out_channels=128,
                num_layers=2,
                with_bias=True,
                with_last_bn=False,
                with_last_bias=True,
                with_avg_pool=True,
                norm_cfg=_base_.norm_cfg),
            loss=dict(type='InfoNCELoss', temperature=0.2),  # [D] T_p
            levels=(1, 2, 3),  # [D] C3, C4, C5 (stage indices; 0 = C2)
            level_weights=None,  # [D] w_l = 1 (ablation: 1/3 each)
            reid_weight=1.0,  # [D] lambda
            patch_queue_len=16384,  # [D]
            gather_keys=True,
            num_important=None,  # [D] "important patches": top-N by C5 energy
            min_cell_strides=0.,  # [D] 2 = mask cells < 2 strides of a level
            # torchvision roi_align(7x7, aligned, adaptive sampling) = mmcv
            # RoIAlign
            roi_pool=dict(output_size=7, sampling_ratio=0, aligned=True))),
    # MMEngine update-rate convention: momentum 0.001 = keep-rate 0.999.
    target_ema=dict(type='ExponentialMovingAverage', momentum=0.001),
    batch_views=False)
