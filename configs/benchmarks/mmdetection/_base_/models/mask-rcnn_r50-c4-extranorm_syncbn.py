# MMDetection's Mask R-CNN R50-C4 as the SoCo C4 protocol has it (detectron2
# `Res5ROIHeadsExtraNorm`): a PyTorch-style R50 (RGB, ImageNet mean/std;
# MMDetection's C4 configs are Caffe-style) with SyncBN, nothing frozen;
# res5 in the RoI head followed by one extra SyncBN
# (mmalfm.ResLayerExtraNorm, keys roi_head.shared_head.layer4.* +
# layer4.norm.*). Initialised from a C4 export (res5 under
# roi_head.shared_head.layer4.*).
_base_ = 'mmdet::_base_/models/mask-rcnn_r50-caffe-c4.py'

pretrained = 'work_dirs/exports/r50-c4_mmdet.pth'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    init_cfg=dict(type='mmalfm.PretrainedExport', checkpoint=pretrained),
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    roi_head=dict(
        shared_head=dict(
            type='mmalfm.ResLayerExtraNorm',
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=False)))
