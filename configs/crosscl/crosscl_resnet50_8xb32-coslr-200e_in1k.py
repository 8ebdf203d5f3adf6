# CrossCL R50 + partial FPN, 200 epochs on ImageNet-1K, 8 GPUs x 32 images
# (global 256, as released `sh/*.sh`): SGD lr 0.03, wd 1e-4, cosine per
# epoch, no warm-up; MoCo v2 queue 65536, keep rate 0.999, T 0.2.
# See README.md.
_base_ = [
    '../_base_/models/crosscl_resnet50.py',
    '../_base_/datasets/crosscl_pipelines.py',
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
    # ShuffleBN gathers equal-size batches from every rank
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
# released: a checkpoint every 100 epochs + the last one
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
custom_hooks = [dict(type='RepresentationHealthHook', interval=50)]
auto_scale_lr = dict(base_batch_size=batch_size * num_gpus)
