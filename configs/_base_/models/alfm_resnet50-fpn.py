# ALFM R50-FPN (Fang et al., 2025): student = mmdet ResNet-50 + mmdet FPN P2-P5
# + 4conv1fc RoI head (all SyncBN, exported to mmdet with SoCo's keys) and two
# heads: `gmsr` (a GMSR projector on avgpool(C5)) and `cdlp` (a CDLP prototype
# head on the RoI features); teacher = EMA of backbone, neck, roi_head and the
# prototype head (keep-rate 0.996 -> 1, cosine).
# Every key tagged [D] is our design (the paper's text is not public).
_base_ = ['./r50-fpn-4conv1fc_byol-projector.py']  # zero-gamma R50 as SoCo [D]
num_prototypes = 4096  # K [D]
model = dict(
    type='ALFM',
    heads=dict(
        gmsr=dict(
            type='GMSRHead',
            # GMSR projector [D]: avgpool(C5) -> Linear 2048-4096, BN, ReLU
            # -> Linear 4096-256 (student only: GMSR is siamese).
            projector=dict(
                _base_.byol_projector, in_channels=2048, with_avg_pool=True),
            # GMSR [A: alignment + entropy; D: coding rate, eps2, beta]
            loss=dict(
                type='CodingRateLoss',
                eps2=0.05,
                beta=1.0,
                align_weight=1.0,
                gather=True),
            global_views=(0, 1)),
        cdlp=dict(
            type='CDLPHead',
            embedding=dict(
                type='RoIEmbedding',
                roi_pool=_base_.roi_pool,
                # CDLP head [D]: 1024 -> 2048 -> 2048 -> 256 (GELU), L2-norm,
                # K weight-normalised prototypes (gain fixed to 1). BN after
                # the hidden layers (DINO's use_bn_in_head): the RoI-head
                # features are post-ReLU (all positive), and without BN every
                # region starts with nearly the same embedding (demo: cosine
                # 0.99, the collapse guard fires).
                projector=dict(
                    type='PrototypeHead',
                    in_channels=1024,
                    hid_channels=2048,
                    bottleneck_channels=256,
                    num_prototypes=num_prototypes,
                    num_layers=3,
                    norm_cfg=dict(type='SyncBN'),
                    norm_last_layer=True)),
            # CDLP [A: soft labels; D: DINO recipe]; loss_weight = alpha
            loss=dict(
                type='SoftLabelDistillationLoss',
                out_dim=num_prototypes,
                student_temp=0.1,
                teacher_temp=0.07,
                warmup_teacher_temp=0.04,
                warmup_teacher_temp_epochs=30,
                center_momentum=0.9,
                loss_weight=1.0),
            redundancy_loss=None,  # [D] Barlow-Twins term, ablation only
            redundancy_weight=1.0,
            level_thresholds=(48, 96, 192, 224),  # SoCo aware_range at 224
            local_level=None,  # [D] by patch size: a 96-px patch -> P3
            local_box='whole',
            teacher_view='global',
            cross_view_distillation=True,
            # BN of roi_head/prototype head over all region sets of a branch
            # call, as a detector's box head (configs/alfm/README.md); 'set':
            # per region set.
            bn_groups='batch')),
    # MMEngine EMA convention: update rate m = 1 - tau; tau 0.996 -> 1.
    target_ema=dict(type='CosineEMA', momentum=0.004, end_momentum=0.),
    batch_views=True)
