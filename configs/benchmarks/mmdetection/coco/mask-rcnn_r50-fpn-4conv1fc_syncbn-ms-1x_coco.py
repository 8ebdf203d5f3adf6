# COCO Mask R-CNN R50-FPN 1x, the SoCo / CrossCL fine-tuning protocol
# (detectron2 `SoCo_FPN_*.yaml`): the MoCo protocol
# (./mask-rcnn_r50-fpn_syncbn-ms-1x_coco.py: SyncBN backbone + FPN,
# multi-scale 640-800) plus a 4conv1fc box head and the 4-conv mask head,
# both with SyncBN, and weight decay 2.5e-5.
#
# Initialised from an export holding backbone + FPN + box head (SoCo, ALFM).
# A backbone[+FPN] export (CrossCL, DUPR, BYOL, MoCo v2) loads too; the parts
# it lacks keep their initialisation and the log says which.
#   python tools/model_converters/export_to_mmdet.py PRETRAIN_CKPT \
#       work_dirs/exports/r50-fpn-head_mmdet.pth --with-neck --with-head \
#       --check <this config>
_base_ = [
    '../_base_/models/mask-rcnn_r50-fpn-4conv1fc_syncbn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/finetune_1x.py'
]

optim_wrapper = dict(optimizer=dict(weight_decay=2.5e-5))
