# A CrossCL run small enough for the test suite: the demo model (r18q) at
# 1/2 of the demo width, 48-px views (the smallest size whose P4 map, 3x3,
# fits the 3x3 dense negatives) with the 6x6 window grid scaled by 48/224,
# a 12-key queue (4 keys per iteration: the pointer is 8 after 2
# iterations and wraps to 4 after 4), iteration-based (4 iterations,
# checkpoints every 2) so that an interrupted run can resume mid-schedule.
# The tests set the data root with --cfg-options.
_base_ = ['../../../configs/crosscl/crosscl_resnet18q_1xb8-coslr-10e_demo.py']

max_iters = 4
crop_size = 48
window = 48 * crop_size / 224
window_stride = 32 * crop_size / 224

model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(in_channels=(16, 32, 64), out_channels=16),
    heads=dict(
        moco=dict(
            neck=dict(in_channels=64, hid_channels=64, out_channels=16),
            head=dict(feat_dim=16, queue_len=12)),
        region=dict(view_size=crop_size)))

# the demo's pipeline with one crop size and the window grid at crop_size
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=[
            dict(
                kind='resized_crop', size=crop_size, scale=(0.2, 1.), num=2)
        ],
        region_sampler=dict(
            type='CrossCLWindowSampler',
            view_size=crop_size,
            window=window,
            stride=window_stride)),
    *_base_.train_pipeline[2:],
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters,
        by_epoch=False,
        begin=0,
        end=max_iters)
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=-1))
log_processor = dict(by_epoch=False)
custom_hooks = []
