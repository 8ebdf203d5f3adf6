# BYOL's views on the ImageNet-1K train split as unlabeled images.
_base_ = ['./byol_pipelines.py', './unlabeled_imagenet.py']

train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipeline))
