# BYOL R50 pretrained on COCO train2017 images (labels unused), 800 epochs:
# the image-level baseline of ALFM's COCO pretraining.
_base_ = [
    '../_base_/models/byol_resnet50.py',
    '../_base_/datasets/coco_byol.py',
    '../_base_/schedules/lars_coslr-800e.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(optimizer=dict(lr=4.8 * 512 / 4096))
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=512)
# collapse statistics and the count of skipped corrupt images in the log
custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]
