# COCO Mask R-CNN R50-FPN, SoCo / CrossCL protocol, fine-tuned on a 10 %
# labelled subset of train2017 (image-level, written by
# tools/data/make_coco_subset.py), evaluated on the full val2017. The
# schedule is proportional: the same 12 epochs over the subset (10 % of the
# 1x iterations), with the warm-up shortened to 100 iterations. Another seed
# of the split: --cfg-options train_dataloader.dataset.ann_file=...
#   python tools/data/make_coco_subset.py \
#       data/coco/annotations/instances_train2017.json \
#       data/coco/annotations/instances_train2017_10pct_seed1.json \
#       --percent 10 --seed 1
_base_ = './mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco.py'

train_ann_file = 'annotations/instances_train2017_10pct_seed1.json'
train_dataloader = dict(dataset=dict(ann_file=train_ann_file))
train_cfg = dict(val_interval=12)  # evaluate once, at the end
param_scheduler = [
    dict(_base_.param_scheduler[0], end=100),
    dict(_base_.param_scheduler[1])
]
