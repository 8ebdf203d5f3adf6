# COCO Mask R-CNN R50-FPN 2x, SoCo / CrossCL protocol (detectron2 180k,
# steps 120k/160k = MMDetection's 24 epochs, steps 16/22).
_base_ = [
    '../_base_/models/mask-rcnn_r50-fpn-4conv1fc_syncbn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/finetune_2x.py'
]

optim_wrapper = dict(optimizer=dict(weight_decay=2.5e-5))
