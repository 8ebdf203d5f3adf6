# BYOL with the project's demo backbone ("r18q": ResNet-18 at 1/4 width,
# stem 16, stages 16/32/64/128) on the generated demo data: the fair
# image-level baseline of the region-level demo configs (same backbone, same
# 64-px global views, same 1 x 8 batch and 10 x 30 iterations as
# configs/soco/soco_resnet18-fpn_1xb8-coslr-10e_demo.py), so its export
# loads into the demo detector
# configs/benchmarks/mmdetection/demo/faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py
# unchanged. `make demo` (tools/demo/run_demo.py) runs it.
_base_ = ['./byol_resnet18_1xb16-10e_demo.py']

crop_size = 64
batch_size = 8
num_gpus = 1

# MMPretrain's ResNet takes base_channels (the width of the first stage),
# so no mmdet.ResNet is needed; its state-dict keys are mmdet's.
model = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    neck=dict(in_channels=128, hid_channels=512, out_channels=128))

# the base views with 64-px crops (the demo views of every method)
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
train_dataloader = dict(
    batch_size=batch_size, dataset=dict(pipeline=train_pipeline))

# the base rule (4.8 @ 4096, x4 for the short schedule) at batch 8
optim_wrapper = dict(optimizer=dict(lr=4.8 * batch_size * num_gpus / 4096 *
                                    4))
default_hooks = dict(logger=dict(interval=10))
custom_hooks = [dict(type='RepresentationHealthHook', interval=10)]
auto_scale_lr = dict(base_batch_size=batch_size * num_gpus)
