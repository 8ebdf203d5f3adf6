# LVIS v1 Mask R-CNN R50-FPN 1x with repeat-factor sampling (threshold
# 0.001, MMDetection's ClassBalancedDataset = detectron2's
# RepeatFactorTrainingSampler), 1203 classes, 300 detections per image at
# score >= 1e-4 (all as in MMDetection's LVIS config), fine-tuned with the
# SoCo protocol of ../coco/mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco.py
# (SyncBN backbone / FPN / 4conv1fc box head / mask head, nothing frozen,
# weight decay 2.5e-5, warm-up 1000 iterations). Composed like MMDetection's
# LVIS config, whose model change (1203 classes, 300 detections at score
# >= 1e-4) is restated here.
#
# Needs the `lvis` package to build the data set and the metric
# (pip install lvis); the config parses and the model builds without it.
_base_ = [
    '../_base_/models/mask-rcnn_r50-fpn-4conv1fc_syncbn.py',
    'mmdet::_base_/datasets/lvis_v1_instance.py',
    '../_base_/schedules/finetune_1x.py'
]

model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=1203), mask_head=dict(num_classes=1203)),
    test_cfg=dict(rcnn=dict(score_thr=0.0001, max_per_img=300)))
optim_wrapper = dict(optimizer=dict(weight_decay=2.5e-5))
