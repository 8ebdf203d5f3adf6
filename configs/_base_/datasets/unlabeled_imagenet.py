# ImageNet-1K train split as unlabeled images (folder or meta list file),
# 64 images per GPU; a data fragment on it adds the method's pipeline
# (`train_dataloader = dict(dataset=dict(pipeline=...))`).
data_root = 'data/imagenet/'
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UnlabeledImageDataset',
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix=dict(img_path='train/')))
