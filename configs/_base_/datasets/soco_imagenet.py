_base_ = ['./soco_pipelines.py']

# ImageNet-1K train with offline selective-search proposals made by
# `python tools/data/selective_search.py data/imagenet/train
#  data/imagenet/proposals/ss_train.json --nproc 48`.
data_root = 'data/imagenet/'
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ProposalDataset',
        dataset=dict(
            type='UnlabeledImageDataset',
            data_root=data_root,
            ann_file='meta/train.txt',
            data_prefix=dict(img_path='train/')),
        data_root=data_root,
        proposal_file='proposals/ss_train.json',
        pipeline={{_base_.train_pipeline}}))
