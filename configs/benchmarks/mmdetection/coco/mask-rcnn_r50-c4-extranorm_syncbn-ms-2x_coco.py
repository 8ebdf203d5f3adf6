# COCO Mask R-CNN R50-C4 2x (detectron2 180k, steps 120k/160k = 24 epochs,
# steps 16/22), SoCo C4 protocol.
_base_ = [
    '../_base_/models/mask-rcnn_r50-c4-extranorm_syncbn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/finetune_2x.py'
]

optim_wrapper = dict(optimizer=dict(weight_decay=2.5e-5))
