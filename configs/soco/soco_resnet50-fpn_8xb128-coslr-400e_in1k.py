# SoCo R50-FPN, 400 epochs on ImageNet-1K with selective-search proposals,
# 8 GPUs x 128 images (global 1024; the authors used 16 x 128 = 2048: use
# --auto-scale-lr or set lr = 1.0 x batch / 256). Released script
# `SoCo_FPN_400ep`: box jitter, no cutout. See README.md.
_base_ = [
    '../_base_/models/soco_resnet50-fpn.py',
    '../_base_/datasets/soco_imagenet.py',
    '../_base_/schedules/soco_lars_coslr.py',
    '../_base_/default_runtime.py',
]

batch_size = 128
num_gpus = 8
optim_wrapper = dict(optimizer=dict(lr=1.0 * batch_size * num_gpus / 256))
train_dataloader = dict(batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]
auto_scale_lr = dict(base_batch_size=batch_size * num_gpus)
