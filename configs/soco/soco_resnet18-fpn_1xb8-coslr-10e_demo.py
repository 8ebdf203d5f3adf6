# SoCo on the generated demo data, CPU-sized: ResNet-18 at 1/4 width, FPN 64,
# views 64/64/32 (the 224/224/112 recipe scaled by 2/7, level thresholds
# too), 10 epochs x 30 iterations. Same model, sampler, pipeline and schedule
# family as the full-scale configs. First make the proposals:
#   python tools/data/make_demo_data.py data/demo
#   python tools/data/selective_search.py \
#       data/demo/coco/annotations/instances_train2017.json \
#       data/demo/coco/proposals/ss_train2017.json \
#       --img-prefix data/demo/coco/train2017
# on the COCO config: the demo images are a COCO-style train2017 folder
_base_ = ['./soco_resnet50-fpn_8xb128-coslr-400e_coco.py']

max_epochs = 10
warmup_epochs = 1
batch_size = 8
num_gpus = 1

model = dict(
    batch_views=True,
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64),
    roi_head=dict(
        bbox_head=dict(
            in_channels=64, conv_out_channels=64, fc_out_channels=256)),
    heads=dict(
        region=dict(
            embedding=dict(
                projector=dict(
                    in_channels=256, hid_channels=512, out_channels=64),
                predictor=dict(
                    in_channels=64, hid_channels=512, out_channels=64)),
            # released aware_range (48, 96, 192, 224) at 224 px, scaled to
            # 64 px
            level_thresholds=(14, 28, 55, 64))))

# SoCo's views (_base_/datasets/soco_pipelines.py) at 64/64/32 px
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=[
            dict(view, size=size)
            for view, size in zip(_base_.train_pipeline[1].views, (64, 64, 32))
        ]),
    *_base_.train_pipeline[2:],
]
data_root = 'data/demo/coco/'
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        data_root=data_root,
        dataset=dict(data_root=data_root),
        pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=1.0 * batch_size * num_gpus / 256))
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
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=2))
custom_hooks = [dict(type='RepresentationHealthHook', interval=10)]
auto_scale_lr = dict(base_batch_size=batch_size * num_gpus)
