# COCO train2017 images, labels ignored: the loader of
# ./unlabeled_imagenet.py on another folder.
_base_ = ['./unlabeled_imagenet.py']

data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img_path='train2017/')))
