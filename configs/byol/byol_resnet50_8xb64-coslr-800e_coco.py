# BYOL R50 pretrained on COCO train2017 images (labels unused), 800 epochs:
# the image-level baseline of ALFM's COCO pretraining.
_base_ = [
    '../_base_/models/byol_resnet50.py',
    '../_base_/datasets/coco_byol.py',
    '../_base_/schedules/lars_coslr-400e.py',
    '../_base_/default_runtime.py',
]

max_epochs = 800
warmup_epochs = 10
optim_wrapper = dict(optimizer=dict(lr=4.8 * 512 / 4096))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=512)
# collapse statistics and the count of skipped corrupt images in the log
custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]
