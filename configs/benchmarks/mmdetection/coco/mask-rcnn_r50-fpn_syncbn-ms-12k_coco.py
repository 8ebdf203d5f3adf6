# COCO Mask R-CNN R50-FPN (MoCo protocol: 2fc head, SyncBN backbone + FPN),
# the DetCo / DUPR short schedule: 12k iterations at batch
# 16, steps 9k/11k, iteration-based, weight decay 1e-4 (detectron2 default);
# validation and checkpoints every 4k iterations.
_base_ = './mask-rcnn_r50-fpn_syncbn-ms-1x_coco.py'

max_iters = 12000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=4000)
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[9000, 11000],
        gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000))
log_processor = dict(by_epoch=False)
