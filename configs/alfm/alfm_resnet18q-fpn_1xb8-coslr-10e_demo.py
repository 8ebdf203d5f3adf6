# ALFM on the generated demo data, CPU-sized: the project's demo backbone
# (ResNet-18 at 1/4 width, "r18q"), FPN 64, 4conv1fc head 64/256; global
# views 64 px, local patches 32 px (the 224/96 recipe scaled down; level
# thresholds scaled by 64/224), K = 256 prototypes, 10 epochs x 30
# iterations. Same model, sampler, pipeline and schedule family as the
# full-scale configs. First make the proposals:
#   python tools/data/make_demo_data.py data/demo
#   python tools/data/selective_search.py \
#       data/demo/coco/annotations/instances_train2017.json \
#       data/demo/coco/proposals/ss_train2017.json \
#       --img-prefix data/demo/coco/train2017
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_coco.py']

max_epochs = 10
warmup_epochs = 1
batch_size = 8
num_gpus = 1
num_prototypes = 256

model = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64),
    roi_head=dict(
        bbox_head=dict(
            in_channels=64, conv_out_channels=64, fc_out_channels=256)),
    heads=dict(
        gmsr=dict(
            projector=dict(
                in_channels=128, hid_channels=512, out_channels=64)),
        cdlp=dict(
            embedding=dict(
                projector=dict(
                    in_channels=256,
                    hid_channels=512,
                    bottleneck_channels=64,
                    num_prototypes=num_prototypes)),
            # 30 of 800 epochs -> about 1 of 10
            loss=dict(out_dim=num_prototypes, warmup_teacher_temp_epochs=1),
            # SoCo's (48, 96, 192, 224) at 224 px, scaled to 64 px
            level_thresholds=(14, 28, 55, 64))))

# the base views at 64 / 32 px
views = [dict(_base_.views[0], size=64), dict(_base_.views[1], size=32)]
train_pipeline = [
    _base_.train_pipeline[0],
    dict(_base_.train_pipeline[1], views=views),
    *_base_.train_pipeline[2:],
]
data_root = 'data/demo/coco/'
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        dataset=dict(data_root=data_root),
        data_root=data_root,
        pipeline=train_pipeline))

# fp32 (no AMP on CPU): the base's LARS and parameter groups, demo lr
optim_wrapper = dict(
    type='OptimWrapper',
    _delete_=True,
    # 8x the linear-scaling value 0.2 x 8 / 256 (= the lr of 64-image
    # batches): at 0.006 the LARS-scaled weights barely move in 300 its
    optimizer=dict(
        _base_.optim_wrapper.optimizer,
        lr=0.2 * batch_size * num_gpus / 256 * 8),
    paramwise_cfg=_base_.optim_wrapper.paramwise_cfg)
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
# d = 64 for both branches: std of spread embeddings ~ 1/8
custom_hooks = [
    dict(
        type='RepresentationHealthHook',
        interval=10,
        std_floor=dict(gmsr=0.1 / 64**0.5, cdlp=0.1 / 64**0.5),
        rank_floor=2.0,
        patience=3,
        guard_begin=30)
]
auto_scale_lr = dict(base_batch_size=batch_size * num_gpus)
