# COCO Mask R-CNN R50-FPN 1x, the MoCo / DetCo / DUPR fine-tuning protocol
# (as released by DetCo): SyncBN in the backbone (nothing frozen, BN
# statistics updated) and the FPN, MMDetection's default 2fc box head and
# 4-conv mask head (no norm); multi-scale training (short side 640-800), test
# 800; SGD lr 0.02 (8 GPUs x 2 images), weight decay 1e-4 (the detectron2
# default), warm-up 1000 iterations. MMDetection's 12-epoch 1x (~88k
# iterations at batch 16) stands for detectron2's 90k; no Precise-BN (see
# docs/user_guides/benchmarks_detection.md).
#
# Initialised from a backbone-only export (extra parts are refused):
#   python tools/model_converters/export_to_mmdet.py PRETRAIN_CKPT \
#       work_dirs/exports/r50_mmdet.pth --check <this config>
#   python tools/train.py <this config> \
#       --cfg-options model.init_cfg.checkpoint=work_dirs/exports/r50_mmdet.pth
_base_ = [
    '../_base_/models/mask-rcnn_r50-fpn_syncbn.py',
    '../_base_/datasets/coco_instance_ms.py',
    '../_base_/schedules/finetune_1x.py'
]
