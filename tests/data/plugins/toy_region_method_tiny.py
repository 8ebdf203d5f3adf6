# ToyRegion (tests/data/plugins/toy_region_method.py), tiny: a plugin
# method's own config. Everything about the method is in its plugin file and
# here; the only mmalfm piece named is the shared runtime. The backbone is
# the demo's "r18q" (ResNet-18, stem 16, stages 16/32/64/128), so the export
# loads into the demo detector
# (configs/benchmarks/mmdetection/demo/faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py). The plugin folder
# must be on PYTHONPATH (the tests put it there). The tests set the data root
# with --cfg-options; by default it reads the demo data.
_base_ = ['mmalfm::_base_/default_runtime.py']

custom_imports = dict(imports=['toy_region_method'],
                      allow_failed_imports=False)

max_iters = 4
crop_size = 32

model = dict(
    type='ToyRegion',
    backbone=dict(
        type='mmdet.ResNet',
        depth=18,
        stem_channels=16,
        base_channels=16,
        out_indices=(3, ),
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    heads=dict(
        toy=dict(
            type='ToyRegionHead',
            roi_pool=dict(output_size=2, featmap_strides=[32]),
            in_channels=128,
            out_channels=16,
            loss=dict(type='ToyCosineLoss'))),
    target_ema=dict(type='CosineEMA', momentum=0.01, end_momentum=0.))

train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiViewCrop',
        views=[dict(kind='resized_crop', size=crop_size, scale=(0.3, 1.),
                    num=2)],
        region_sampler=dict(type='ToyOverlapSampler', grid=2),
        max_tries=10),
    dict(type='ViewPipelines', transforms=[[]]),
    dict(type='PackMultiViewInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UnlabeledImageDataset',
        data_root='data/demo/coco/',
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/'),
        pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_iters, by_epoch=False, begin=0,
         end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=-1))
log_processor = dict(by_epoch=False)
custom_hooks = [dict(type='RepresentationHealthHook', interval=1)]
