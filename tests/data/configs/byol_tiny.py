# A BYOL run small enough for the test suite: R18 at 1/8 width, 32-px views,
# iteration-based so that an interrupted run can resume mid-schedule.
# `train_dataloader.dataset.data_root` is set by the tests.
_base_ = ['../../../configs/byol/byol_resnet18_1xb16-10e_demo.py']

crop_size = 32
max_iters = 4

model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(in_channels=64, hid_channels=32, out_channels=16),
    head=dict(
        predictor=dict(in_channels=16, hid_channels=32, out_channels=16)))

# one view pipeline for both views: a small cv2 crop, the flip and BYOL's
# colour jitter, and a plain grayscale
_view = [
    dict(type='RandomResizedCrop', scale=crop_size, backend='cv2'),
    _base_.flip,
    _base_.photometrics1.transforms[0],
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root='',
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/'),
        pipeline=[
            dict(type='LoadImageWithCheck'),
            dict(type='MultiView', num_views=[1, 1], transforms=[_view, _view]),
            dict(type='PackInputs')
        ]))

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
