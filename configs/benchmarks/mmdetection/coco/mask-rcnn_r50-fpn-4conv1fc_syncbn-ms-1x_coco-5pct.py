# COCO Mask R-CNN R50-FPN, SoCo / CrossCL protocol, fine-tuned on a 5 %
# labelled subset of train2017: the 10 % config (the same 12 epochs over
# the subset, warm-up 100 iterations, one evaluation at the end on the full
# val2017) on the 5 % split written by
#   python tools/data/make_coco_subset.py \
#       data/coco/annotations/instances_train2017.json \
#       data/coco/annotations/instances_train2017_5pct_seed1.json \
#       --percent 5 --seed 1
_base_ = './mask-rcnn_r50-fpn-4conv1fc_syncbn-ms-1x_coco-10pct.py'

train_ann_file = 'annotations/instances_train2017_5pct_seed1.json'
train_dataloader = dict(dataset=dict(ann_file=train_ann_file))
