# An ALFM run small enough for the test suite: the demo model (r18q FPN) at
# 1/2 of the demo width, 32-px global views and 16-px local patches,
# iteration-based (4 iterations, checkpoints every 2) so that an interrupted
# run can resume mid-schedule. The tests set the data roots and the
# proposal file (made by tools/data/selective_search.py) with --cfg-options.
_base_ = ['../../../configs/alfm/alfm_resnet18q-fpn_1xb8-coslr-10e_demo.py']

max_iters = 4
num_prototypes = 32

model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    roi_head=dict(
        bbox_head=dict(
            in_channels=16, conv_out_channels=16, fc_out_channels=32)),
    heads=dict(
        gmsr=dict(
            projector=dict(in_channels=64, hid_channels=64, out_channels=16)),
        cdlp=dict(
            embedding=dict(
                projector=dict(
                    in_channels=32,
                    hid_channels=64,
                    bottleneck_channels=16,
                    num_prototypes=num_prototypes)),
            loss=dict(
                out_dim=num_prototypes, warmup_teacher_temp_epochs=0),
            # the demo thresholds (64 px) scaled to 32 px
            level_thresholds=(7, 14, 28, 32))))

# the demo's pipeline with 32-px global views and 16-px local patches
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=[
            dict(kind='resized_crop', size=32, scale=(0.3, 1.), num=2),
            dict(kind='region_crop', size=16, num=4),
        ]),
    *_base_.train_pipeline[2:],
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
# d = 16, 4 images: half the 0.1 / sqrt(d) floor of the demo (tiny batches)
custom_hooks = [
    dict(
        type='RepresentationHealthHook',
        interval=1,
        std_floor=dict(gmsr=0.05 / 16**0.5, cdlp=0.05 / 16**0.5),
        rank_floor=1.5,
        patience=2)
]
