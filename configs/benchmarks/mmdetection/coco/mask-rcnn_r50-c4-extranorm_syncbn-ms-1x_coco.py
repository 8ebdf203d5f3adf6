# COCO Mask R-CNN R50-C4 1x, the SoCo C4 protocol (detectron2
# `Res5ROIHeadsExtraNorm`): a PyTorch-style R50 (RGB,
# ImageNet mean/std; MMDetection's C4 configs are Caffe-style) with SyncBN,
# nothing frozen; res5 in the RoI head followed by one extra SyncBN
# (mmalfm.ResLayerExtraNorm, keys roi_head.shared_head.layer4.* +
# layer4.norm.*); RPN test pre/post-NMS 6000/1000; multi-scale 640-800,
# test 800; SGD lr 0.02, weight decay 2.5e-5, warm-up 1000 iterations; 12
# epochs (steps 8/11) for detectron2's 90k.
#
# Initialised from a C4 export (res5 under roi_head.shared_head.layer4.*):
#   python tools/model_converters/export_to_mmdet.py PRETRAIN_CKPT \
#       work_dirs/exports/r50-c4_mmdet.pth --c4 --check <this config>
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py'
custom_imports = dict(imports=['mmalfm'], allow_failed_imports=False)

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

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

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
