# The detection-aligned trunk of SoCo and ALFM:
# mmdet ResNet-50 (zero-gamma) + mmdet FPN P2-P5 + multi-level RoIAlign +
# 4conv1fc RoI head, all SyncBN. Its keys are those of mmdet's Mask R-CNN
# R50-FPN (`backbone.*`, `neck.*`, `roi_head.bbox_head.shared_convs/
# shared_fcs.*`), so the export needs no renaming. The method configs add
# `type` and the heads (projectors, losses), whose RoI embeddings pool with
# `roi_pool`.
_base_ = ['./mmdet_resnet50.py']  # data preprocessor, R50, norm_cfg
norm_cfg = _base_.norm_cfg
# torchvision roi_align(7x7, aligned, sampling_ratio=-1) = mmcv
# RoIAlign(sampling_ratio=0, aligned=True), per level, in fp32.
roi_pool = dict(
    output_size=7,
    featmap_strides=(4, 8, 16, 32),
    sampling_ratio=0,
    aligned=True)
model = dict(
    backbone=dict(zero_init_residual=True),
    neck=dict(
        type='mmdet.FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=0,
        add_extra_convs=False,
        num_outs=4,
        norm_cfg=norm_cfg),
    roi_head=dict(
        type='RegionRoIHead',
        bbox_head=dict(
            type='ConvFCRoIFeatureHead',
            num_shared_convs=4,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            norm_cfg=norm_cfg)))
