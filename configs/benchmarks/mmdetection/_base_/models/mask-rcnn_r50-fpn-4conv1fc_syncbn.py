# ./mask-rcnn_r50-fpn_syncbn.py with the SoCo / CrossCL heads (detectron2
# `SoCo_FPN_*.yaml`): a 4conv1fc box head and the 4-conv mask head, both
# with SyncBN. Initialised from an export holding backbone + FPN + box head
# (SoCo, ALFM); a backbone[+FPN] export (CrossCL, DUPR, BYOL, MoCo v2)
# loads too, the parts it lacks keep their initialisation and the log says
# which.
_base_ = './mask-rcnn_r50-fpn_syncbn.py'

pretrained = 'work_dirs/exports/r50-fpn-head_mmdet.pth'

model = dict(
    init_cfg=dict(checkpoint=pretrained),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=_base_.norm_cfg),
        mask_head=dict(norm_cfg=_base_.norm_cfg)))
