# A SoCo run small enough for the test suite: the demo model (R18 FPN) at
# 1/2 of the demo width, 32/32/16-px views, iteration-based (4 iterations,
# checkpoints every 2) so that an interrupted run can resume mid-schedule.
# The pipeline has the box cutout (random draws after the views') so the
# resume test covers it too. The tests set the data roots and the proposal
# file (made by tools/data/selective_search.py) with --cfg-options.
_base_ = ['../../../configs/soco/soco_resnet18-fpn_1xb8-coslr-10e_demo.py']

max_iters = 4

model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    roi_head=dict(
        bbox_head=dict(
            in_channels=16, conv_out_channels=16, fc_out_channels=32)),
    heads=dict(
        region=dict(
            embedding=dict(
                projector=dict(
                    in_channels=32, hid_channels=64, out_channels=16),
                predictor=dict(
                    in_channels=16, hid_channels=64, out_channels=16)),
            # the demo thresholds (64 px) scaled to 32 px
            level_thresholds=(7, 14, 28, 32))))

# the demo's views at half size, and the box cutout
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=[
            dict(view, size=view.size // 2)
            for view in _base_.train_pipeline[1].views
        ]),
    _base_.train_pipeline[2],
    _base_.region_cutout,
    _base_.train_pipeline[3],
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - 2,
        by_epoch=False,
        begin=2,
        end=max_iters)
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=-1))
log_processor = dict(by_epoch=False)
custom_hooks = []
