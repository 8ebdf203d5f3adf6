# ALFM on ImageNet-1K train at equal *epochs* (800; ~10.8x the COCO
# iterations), selective-search proposals made by
#   python tools/data/selective_search.py data/imagenet/train \
#       data/imagenet/proposals/ss_train.json --nproc 48
# Ablation 4 of README.md ("10 % of the training samples").
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_coco.py']

data_root = 'data/imagenet/'
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        proposal_file='proposals/ss_train.json',
        dataset=dict(
            data_root=data_root,
            ann_file='meta/train.txt',
            data_prefix=dict(img_path='train/'))))
