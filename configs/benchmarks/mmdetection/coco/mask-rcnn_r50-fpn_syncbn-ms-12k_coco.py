# COCO Mask R-CNN R50-FPN (MoCo protocol: 2fc head, SyncBN backbone + FPN),
# the DetCo / DUPR short schedule: 12k iterations at batch
# 16, steps 9k/11k, iteration-based, weight decay 1e-4 (detectron2 default);
# validation and checkpoints every 4k iterations.
_base_ = [
    '../_base_/models/mask-rcnn_r50-fpn_syncbn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/finetune_12k.py'
]

train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
