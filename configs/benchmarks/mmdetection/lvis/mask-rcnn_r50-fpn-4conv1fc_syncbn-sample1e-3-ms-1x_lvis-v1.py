# LVIS v1 Mask R-CNN R50-FPN 1x with repeat-factor sampling (threshold
# 0.001, MMDetection's ClassBalancedDataset = detectron2's
# RepeatFactorTrainingSampler), 1203 classes, 300 detections per image at
# score >= 1e-4 (all as in MMDetection's LVIS config), fine-tuned with the
# SoCo protocol of ../coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco.py
# (SyncBN backbone / FPN / 4conv1fc box head / mask head, nothing frozen,
# weight decay 2.5e-5, warm-up 1000 iterations; the same model delta,
# repeated here because the data set comes from another MMDetection base).
#
# Needs the `lvis` package to build the data set and the metric
# (pip install lvis); the config parses and the model builds without it.
_base_ = 'mmdet::lvis/mask-rcnn_r50_fpn_sample1e-3_ms-1x_lvis-v1.py'
custom_imports = dict(imports=['mmalfm'], allow_failed_imports=False)

pretrained = 'work_dirs/exports/r50-fpn-head_mmdet.pth'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    init_cfg=dict(type='mmalfm.PretrainedExport', checkpoint=pretrained),
    backbone=dict(
        frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

optim_wrapper = dict(optimizer=dict(weight_decay=2.5e-5))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
# mmalfm's guard: stop at the first NaN/Inf loss, weight or BN statistic
default_hooks = dict(non_finite=dict(type='mmalfm.NonFiniteCheckHook'))
