_base_ = ['./alfm_pipelines.py']

# COCO train2017 images (labels unused) with selective-search proposals:
#   python tools/data/selective_search.py \
#       data/coco/annotations/instances_train2017.json \
#       data/coco/proposals/ss_train2017.json --img-prefix data/coco/train2017
data_root = 'data/coco/'
train_dataloader = dict(
    batch_size=64,
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
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img_path='train2017/')),
        data_root=data_root,
        proposal_file='proposals/ss_train2017.json',
        pipeline={{_base_.train_pipeline}}))
