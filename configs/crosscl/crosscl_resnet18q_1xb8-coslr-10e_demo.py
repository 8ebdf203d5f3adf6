# CrossCL on the generated demo data, CPU-sized: the project's demo
# backbone "r18q" (ResNet-18, stem 16, stages 16/32/64/128; C3-C5 =
# 32/64/128 -> PartialFPN 64), 64-px views, 1 x 8 images, 10 epochs x 30
# iterations; same model, sampler, pipeline and schedule family as the
# full-scale configs. Windows scaled by 64/224: 13.71 px at stride 9.14
# (still the 6x6 grid). 64 px is enough for the released 3x3/s1 dense
# negatives: P4 is 4x4 (2x2 = 4 windows per image), P3 8x8 (6x6 = 36).
#   python tools/data/make_demo_data.py data/demo
#   python tools/train.py \
#       configs/crosscl/crosscl_resnet18q_1xb8-coslr-10e_demo.py
# on the COCO config: the demo images are a COCO-style train2017 folder
_base_ = ['./crosscl_resnet50_8xb32-coslr-800e_coco.py']

max_epochs = 10
batch_size = 8
num_gpus = 1
crop_size = 64
window = 48 * crop_size / 224
window_stride = 32 * crop_size / 224

model = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    neck=dict(in_channels=(32, 64, 128), out_channels=64),
    heads=dict(
        moco=dict(
            neck=dict(in_channels=128, hid_channels=512, out_channels=64),
            # queue shrunk to the 240-image data set: 128 keys (about half
            # an epoch) hold no older key of the query's own image
            head=dict(feat_dim=64, queue_len=128)),
        region=dict(view_size=crop_size)))

# the base views and windows at crop_size
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=[dict(_base_.train_pipeline[1].views[0], size=crop_size)],
        region_sampler=dict(
            _base_.region_sampler,
            view_size=crop_size,
            window=window,
            stride=window_stride)),
    *_base_.train_pipeline[2:],
]
data_root = 'data/demo/coco/'
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))

# 8x the linear-scaling value 0.03 x 8 / 256 (= 0.0075, the lr of 64-image
# batches), as the DUPR and ALFM demos: at 0.00094 the global term stays at
# chance over the 300 demo iterations
optim_wrapper = dict(
    optimizer=dict(lr=0.03 * batch_size * num_gpus / 256 * 8))
param_scheduler = [
    dict(_base_.param_scheduler[0], T_max=max_epochs, end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=2))
custom_hooks = [dict(type='RepresentationHealthHook', interval=10)]
auto_scale_lr = dict(base_batch_size=batch_size * num_gpus)
