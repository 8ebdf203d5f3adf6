# BYOL R50, 400 epochs on ImageNet-1K, 8 GPUs x 64 images (global 512).
# The image-level baseline of the region-level methods (same runner, same
# data layout). lr follows mmpretrain's 4.8 @ 4096, linearly scaled.
_base_ = [
    '../_base_/models/byol_resnet50.py',
    '../_base_/datasets/imagenet_byol.py',
    '../_base_/schedules/lars_coslr-400e.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(optimizer=dict(lr=4.8 * 512 / 4096))
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=512)
# collapse statistics and the count of skipped corrupt images in the log
custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]
