# ALFM's views on COCO train2017 images (labels unused) with
# selective-search proposals:
#   python tools/data/selective_search.py \
#       data/coco/annotations/instances_train2017.json \
#       data/coco/proposals/ss_train2017.json --img-prefix data/coco/train2017
_base_ = ['./alfm_pipelines.py', './unlabeled_coco.py']

train_dataloader = dict(
    drop_last=True,
    dataset=dict(
        _delete_=True,
        type='ProposalDataset',
        dataset=_base_.train_dataloader.dataset,
        data_root=_base_.data_root,
        proposal_file='proposals/ss_train2017.json',
        pipeline=_base_.train_pipeline))
