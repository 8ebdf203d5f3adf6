# SoCo's views on ImageNet-1K train with offline selective-search proposals
# made by `python tools/data/selective_search.py data/imagenet/train
#  data/imagenet/proposals/ss_train.json --nproc 48`; 128 images per GPU.
_base_ = ['./soco_pipelines.py', './unlabeled_imagenet.py']

train_dataloader = dict(
    batch_size=128,
    drop_last=True,
    dataset=dict(
        _delete_=True,
        type='ProposalDataset',
        dataset=_base_.train_dataloader.dataset,
        data_root=_base_.data_root,
        proposal_file='proposals/ss_train.json',
        pipeline=_base_.train_pipeline))
