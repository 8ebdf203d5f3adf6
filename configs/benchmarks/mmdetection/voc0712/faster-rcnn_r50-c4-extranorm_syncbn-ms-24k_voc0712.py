# Pascal VOC07+12 -> VOC07 test, Faster R-CNN R50-C4, the MoCo detection
# protocol used by SoCo, CrossCL and DetCo: a
# PyTorch-style R50 (RGB, ImageNet mean/std) with SyncBN, nothing frozen,
# res5 + one extra SyncBN in the RoI head (mmalfm.ResLayerExtraNorm);
# 24k iterations at batch 16, steps 18k/22k, warm-up 100 iterations, SGD
# lr 0.02, weight decay 1e-4; multi-scale training (short side 480-800),
# test 800. Metric: detectron2's VOC AP = mean over IoU 0.50:0.05:0.95 of the
# VOC07 11-point AP, plus AP50 and AP75 (mmalfm.VOCMultiIoUMetric). Report
# the mean +- std of >= 3 seeds: tools/benchmarks/run_seeds.py.
#
# Initialised from a C4 export (res5 under roi_head.shared_head.layer4.*):
#   python tools/model_converters/export_to_mmdet.py PRETRAIN_CKPT \
#       work_dirs/exports/r50-c4_mmdet.pth --c4 --check <this config>
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py'
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
            norm_eval=False,
            init_cfg=None)))

max_iters = 24000
train_cfg = dict(max_iters=max_iters, val_interval=6000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=100),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[18000, 22000],
        gamma=0.1)
]
val_evaluator = dict(_delete_=True, type='mmalfm.VOCMultiIoUMetric')
test_evaluator = val_evaluator
# mmalfm's guard: stop at the first NaN/Inf loss, weight or BN statistic
default_hooks = dict(
    checkpoint=dict(interval=6000, save_best='pascal_voc/AP', rule='greater'),
    non_finite=dict(type='mmalfm.NonFiniteCheckHook'))
