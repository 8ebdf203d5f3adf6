# DUPR on the generated demo data, CPU-sized: the project's demo backbone
# ("r18q": ResNet-18, stem 16, stages 16/32/64/128), patch Re-ID at C3-C5,
# 64-px views with a 4x4 grid on the overlap, 1 x 8 images, 10 epochs x 30
# iterations; same model, sampler, pipeline and schedule family as the
# full-scale configs. The exported backbone loads into the demo detector
# configs/benchmarks/mmdetection/demo/
#   faster-rcnn_r18q-fpn-4conv1fc_1xb4-demo.py. Run:
#   python tools/data/make_demo_data.py data/demo
#   python tools/train.py configs/dupr/dupr_resnet18q_1xb8-coslr-10e_demo.py
# min_cell_strides stays 0 here: 4x4 cells of an overlap of at most 64 px
# are <= 16 px, i.e. < 2 strides of C4 (16) and C5 (32) always and of C3
# (8) unless the overlap is the whole view -- min_cell_strides=2 would mask
# (nearly) every cell of every level.
# on the COCO config: the demo images are a COCO-style train2017 folder
_base_ = ['./dupr_resnet50_8xb32-coslr-200e_coco.py']

max_epochs = 10
batch_size = 8
num_gpus = 1
crop_size = 64

model = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    heads=dict(
        moco=dict(
            neck=dict(in_channels=128, hid_channels=512, out_channels=64),
            # queues shrunk to the 240-image data set: the global queue (128
            # keys, about half an epoch) holds no older key of the query's
            # own image
            head=dict(feat_dim=64, queue_len=128)),
        reid=dict(
            patch_neck=dict(hid_channels=512, out_channels=64),
            patch_queue_len=1024)))

# the base views at crop_size
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
data_root = 'data/demo/coco/'
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))

# 8x the linear-scaling value 0.03 x 8 / 256 (= 0.0075, the lr of 64-image
# batches): at 0.0009 the 300 demo iterations barely move the patch terms
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
