# BYOL's views on COCO train2017 images (labels ignored).
_base_ = ['./byol_pipelines.py', './unlabeled_coco.py']

train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipeline))
