# COCO Mask R-CNN R50-FPN 1x, the MoCo / DetCo / DUPR fine-tuning protocol
# (as released by DetCo): SyncBN in the backbone (nothing frozen, BN
# statistics updated) and the FPN, MMDetection's default 2fc box head and
# 4-conv mask head (no norm); multi-scale training (short side 640-800), test
# 800; SGD lr 0.02 (8 GPUs x 2 images), weight decay 1e-4 (the detectron2
# default), warm-up 1000 iterations. MMDetection's 12-epoch 1x (~88k
# iterations at batch 16) stands for detectron2's 90k; no Precise-BN (see
# docs/user_guides/benchmarks_detection.md).
#
# Initialised from a backbone-only export (extra parts are refused):
#   python tools/model_converters/export_to_mmdet.py PRETRAIN_CKPT \
#       work_dirs/exports/r50_mmdet.pth --check <this config>
#   python tools/train.py <this config> \
#       --cfg-options model.init_cfg.checkpoint=work_dirs/exports/r50_mmdet.pth
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmalfm'], allow_failed_imports=False)

pretrained = 'work_dirs/exports/r50_mmdet.pth'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    init_cfg=dict(type='mmalfm.PretrainedExport', checkpoint=pretrained),
    backbone=dict(
        frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
    neck=dict(norm_cfg=norm_cfg))

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
