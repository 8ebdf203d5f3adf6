# CrossCL R50 + partial FPN, 200 epochs on ImageNet-1K, 8 GPUs x 32 images
# (global 256, as released `sh/*.sh`): SGD lr 0.03, wd 1e-4, cosine per
# epoch, no warm-up; MoCo v2 queue 65536, keep rate 0.999, T 0.2.
# See README.md.
_base_ = [
    '../_base_/models/crosscl_resnet50.py',
    '../_base_/datasets/crosscl_pipelines.py',
    '../_base_/datasets/unlabeled_imagenet.py',
    '../_base_/schedules/sgd_coslr_epoch.py',
    '../_base_/default_runtime.py',
]

# ImageNet-1K as unlabeled images, 32 per GPU
train_dataloader = dict(
    batch_size=_base_.batch_size,
    # ShuffleBN gathers equal-size batches from every rank
    drop_last=True,
    dataset=dict(pipeline=_base_.train_pipeline))

# optimizer, lr (0.03 x 256 / 256), per-epoch cosine and the 200-epoch loop:
# exactly the schedule base's values
# released: a checkpoint every 100 epochs + the last one
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]
