# BYOL R18 on the generated demo data (tools/data/make_demo_data.py): a
# CPU-sized run of the same model, pipeline and schedule family as the
# full-scale configs. `make demo` runs it.
# on the COCO config: the demo images are a COCO-style train2017 folder
_base_ = ['./byol_resnet50_8xb64-coslr-800e_coco.py']

crop_size = 96
max_epochs = 10
warmup_epochs = 1

model = dict(
    backbone=dict(depth=18, norm_cfg=dict(type='SyncBN')),
    neck=dict(in_channels=512, hid_channels=512, out_channels=128),
    head=dict(
        predictor=dict(in_channels=128, hid_channels=512, out_channels=128)))

# the base views with small cv2 crops (same photometrics)
crop = dict(type='RandomResizedCrop', scale=crop_size, backend='cv2')
view_pipeline1 = [crop, {{_base_.flip}}, {{_base_.photometrics1}}]
view_pipeline2 = [crop, {{_base_.flip}}, {{_base_.photometrics2}}]
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs')
]

data_root = 'data/demo/coco/'
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=4.8 * 16 / 4096 * 4))
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - warmup_epochs,
        begin=warmup_epochs,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=5, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=16)
custom_hooks = [dict(type='RepresentationHealthHook', interval=5)]
