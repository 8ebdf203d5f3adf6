# COCO Mask R-CNN R50-FPN 2x, MoCo / DetCo / DUPR protocol (detectron2 180k,
# steps 120k/160k = MMDetection's 24 epochs, steps 16/22).
_base_ = './mask-rcnn_r50-fpn_syncbn-ms-1x_coco.py'

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[16, 22],
        gamma=0.1)
]
