# MMDetection's Mask R-CNN R50-FPN with the MoCo / DetCo / DUPR protocol:
# SyncBN in the backbone (nothing frozen, BN statistics updated) and the
# FPN, MMDetection's default 2fc box head and 4-conv mask head (no norm).
# Initialised from a backbone-only export (mmalfm.PretrainedExport; extra
# parts are refused); no MMDetection ImageNet weights.
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'

pretrained = 'work_dirs/exports/r50_mmdet.pth'
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    init_cfg=dict(type='mmalfm.PretrainedExport', checkpoint=pretrained),
    backbone=dict(
        frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
    neck=dict(norm_cfg=norm_cfg))
