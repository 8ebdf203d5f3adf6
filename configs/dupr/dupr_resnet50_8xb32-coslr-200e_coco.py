# DUPR R50 pretrained on COCO train2017 (labels ignored) instead of
# ImageNet-1K [D: the abstract reports ImageNet pretraining only; COCO
# pretraining is our variant for the scene-centric comparison with SoCo /
# CrossCL / ALFM]. Same model, views and schedule; 200 epochs of COCO
# (118k images) = ~11 % of the ImageNet iterations.
_base_ = ['./dupr_resnet50_8xb32-coslr-200e_in1k.py']

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/')))
