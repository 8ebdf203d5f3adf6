# DUPR R50 (C3-C5 patch Re-ID + MoCo v2), 200 epochs on ImageNet-1K,
# 8 GPUs x 32 images (a reconstruction: see README.md).
# Optimisation [D, MoCo v2 defaults]: SGD m 0.9, lr 0.03 x batch/256,
# wd 1e-4, per-epoch cosine to 0, no warm-up (shared with CrossCL).
_base_ = [
    '../_base_/models/dupr_resnet50.py',
    '../_base_/datasets/dupr_pipelines.py',
    '../_base_/schedules/sgd_coslr_epoch.py',
    '../_base_/default_runtime.py',
]

max_epochs = 200
batch_size = 32
num_gpus = 8

data_root = 'data/imagenet/'
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UnlabeledImageDataset',
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix=dict(img_path='train/'),
        pipeline={{_base_.train_pipeline}}))

# optimizer, lr (0.03 x 256 / 256), per-epoch cosine and the 200-epoch loop:
# exactly the schedule base's values
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]
