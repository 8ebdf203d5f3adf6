# A DUPR run small enough for the test suite: the demo model (r18q) at 1/2
# of the demo width, 32-px views with a 4x4 grid, iteration-based (4
# iterations, checkpoints every 2) so that an interrupted run can resume
# mid-schedule. The tests set the data root with --cfg-options.
_base_ = ['../../../configs/dupr/dupr_resnet18q_1xb8-coslr-10e_demo.py']

max_iters = 4
crop_size = 32

model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    heads=dict(
        moco=dict(
            neck=dict(in_channels=64, hid_channels=64, out_channels=16),
            head=dict(feat_dim=16, queue_len=8)),
        reid=dict(
            patch_neck=dict(hid_channels=32, out_channels=16),
            patch_queue_len=24)))

# the demo's views at crop_size
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=[
            dict(view, size=crop_size)
            for view in _base_.train_pipeline[1].views
        ]),
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
