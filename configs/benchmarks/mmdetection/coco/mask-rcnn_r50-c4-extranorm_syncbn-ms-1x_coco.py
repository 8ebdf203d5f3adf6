# COCO Mask R-CNN R50-C4 1x, the SoCo C4 protocol (detectron2
# `Res5ROIHeadsExtraNorm`): a PyTorch-style R50 (RGB,
# ImageNet mean/std; MMDetection's C4 configs are Caffe-style) with SyncBN,
# nothing frozen; res5 in the RoI head followed by one extra SyncBN
# (mmalfm.ResLayerExtraNorm, keys roi_head.shared_head.layer4.* +
# layer4.norm.*); RPN test pre/post-NMS 6000/1000; multi-scale 640-800,
# test 800; SGD lr 0.02, weight decay 2.5e-5, warm-up 1000 iterations; 12
# epochs (steps 8/11) for detectron2's 90k.
#
# Initialised from a C4 export (res5 under roi_head.shared_head.layer4.*):
#   python tools/model_converters/export_to_mmdet.py PRETRAIN_CKPT \
#       work_dirs/exports/r50-c4_mmdet.pth --c4 --check <this config>
_base_ = [
    '../_base_/models/mask-rcnn_r50-c4-extranorm_syncbn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/finetune_1x.py'
]

optim_wrapper = dict(optimizer=dict(weight_decay=2.5e-5))
