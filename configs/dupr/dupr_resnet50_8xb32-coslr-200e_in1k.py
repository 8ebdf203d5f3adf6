# DUPR R50 (C3-C5 patch Re-ID + MoCo v2), 200 epochs on ImageNet-1K,
# 8 GPUs x 32 images (a reconstruction: see README.md).
# Optimisation [D, MoCo v2 defaults]: SGD m 0.9, lr 0.03 x batch/256,
# wd 1e-4, per-epoch cosine to 0, no warm-up (shared with CrossCL).
_base_ = [
    '../_base_/models/dupr_resnet50.py',
    '../_base_/datasets/dupr_pipelines.py',
    '../_base_/datasets/unlabeled_imagenet.py',
    '../_base_/schedules/sgd_coslr_epoch.py',
    '../_base_/default_runtime.py',
]

# ImageNet-1K as unlabeled images, 32 per GPU
train_dataloader = dict(
    batch_size=_base_.batch_size,
    drop_last=True,
    dataset=dict(pipeline=_base_.train_pipeline))

# optimizer, lr (0.03 x 256 / 256), per-epoch cosine and the 200-epoch loop:
# exactly the schedule base's values
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]
