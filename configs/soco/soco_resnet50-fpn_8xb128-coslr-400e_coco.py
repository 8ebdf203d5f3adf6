# SoCo R50-FPN pretrained on COCO train2017 images (labels unused), 400
# epochs, 8 x 128: the ImageNet 400e recipe on COCO images. The released code
# supports COCO (train+unlabeled2017) but publishes no COCO-pretrained
# numbers; this is the comparison point for ALFM's COCO pretraining.
# Proposals: `python tools/data/selective_search.py
#   data/coco/annotations/instances_train2017.json
#   data/coco/proposals/ss_train2017.json --img-prefix data/coco/train2017`.
_base_ = ['./soco_resnet50-fpn_8xb128-coslr-400e_in1k.py']

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        proposal_file='proposals/ss_train2017.json',
        dataset=dict(
            data_root=data_root,
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img_path='train2017/'))))
