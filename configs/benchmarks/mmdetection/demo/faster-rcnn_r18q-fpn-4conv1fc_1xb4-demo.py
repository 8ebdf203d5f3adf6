# The demo detector: MMDetection's Faster R-CNN with the project's demo
# backbone (ResNet-18 at 1/4 width, "r18q": 16/32/64/128 channels), FPN 64
# and the 4conv1fc box head (conv 64 / fc 256) of every method's CPU demo, so
# a demo export (backbone [+ neck + head]) loads into it unchanged. BN (not
# SyncBN: one CPU process), nothing frozen, on the generated demo data
# (tools/data/make_demo_data.py: 4 shape classes, 128-256 px images resized
# to short side 192), batch 4 and 4x fewer proposals / RoIs than on COCO.
# CPU-sized so that `make demo` fine-tunes every init with several seeds:
# the 4conv1fc head on the sampled RoIs is most of the CPU time, then the
# image size (docs/user_guides/demo.md has the measurements).
#
# A driver sets, with --cfg-options (see
# docs/user_guides/benchmarks_detection.md):
#   model.init_cfg.checkpoint=EXPORT        the export to fine-tune from
#   model.init_cfg=None                     random init (or the _random-init
#                                           twin of this config)
#   train_dataloader.dataset.ann_file=ANN   e.g. a labelled subset written by
#                                           tools/data/make_coco_subset.py
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmalfm'], allow_failed_imports=False)

# The export written by tools/model_converters/export_to_mmdet.py (set by the
# driver; a missing file is an error that names the command writing it).
pretrained = 'work_dirs/demo/export/pretrained_mmdet.pth'
data_root = 'data/demo/coco/'
train_ann_file = 'annotations/instances_train2017.json'
val_ann_file = 'annotations/instances_val2017.json'
classes = ('disc', 'square', 'triangle', 'star')
metainfo = dict(classes=classes)
norm_cfg = dict(type='BN', requires_grad=True)
max_epochs = 12
batch_size = 4
image_scale = (384, 192)  # short side 192, long side at most 384

model = dict(
    # The whole-detector export (backbone.*, neck.*, roi_head.bbox_head.*).
    init_cfg=dict(type='mmalfm.PretrainedExport', checkpoint=pretrained),
    backbone=dict(
        depth=18,
        stem_channels=16,
        base_channels=16,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=None),
    neck=dict(
        in_channels=[16, 32, 64, 128], out_channels=64, norm_cfg=norm_cfg),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            in_channels=64,
            conv_out_channels=64,
            fc_out_channels=256,
            norm_cfg=norm_cfg,
            num_classes=len(classes))),
    # CPU-sized proposal budgets (at most 6 objects per image): 8x fewer
    # RoIs than the COCO defaults, which dominate the CPU time otherwise.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=150),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=150)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file=train_ann_file,
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    train_dataloader,
    dataset=dict(
        train_dataloader['dataset'],
        ann_file=val_ann_file,
        data_prefix=dict(img='val2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + val_ann_file)
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
# 4x the linear scaling of MMDetection's 0.02 at batch 16 (0.005 at batch
# 4): the demo fine-tunes for 300 iterations, and at lr 0.01 the detectors
# had barely started (seed 0: random init 2.0 / ALFM 2.3 AP, against 3.4 /
# 4.2 at 0.02; docs/user_guides/demo.md)
optim_wrapper = dict(optimizer=dict(lr=0.02, weight_decay=1e-4))
# mmalfm's guard: stop at the first NaN/Inf loss, weight or BN statistic
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1),
    non_finite=dict(type='mmalfm.NonFiniteCheckHook'))
auto_scale_lr = dict(base_batch_size=batch_size)
# A fixed seed: demo runs (and the report built from them) are repeatable;
# tools/benchmarks/run_seeds.py overrides it per seed.
randomness = dict(seed=0)
