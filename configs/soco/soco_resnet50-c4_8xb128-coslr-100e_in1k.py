# SoCo R50-C4, 100 epochs on ImageNet-1K (released `SoCo_C4_100ep`,
# Wei et al., 2021): V1 whole 224, V2 RandomResizedCrop 224 (scale
# 0.6-1), 4 proposals (no jitter), plain 4x4 id correspondence, loss 1<->2.
# RoIAlign 14x14 on C4 (stride 16) -> res5 (mmdet's C4 `ResLayer` shared
# head, keys `roi_head.shared_head.layer4.*` as in mmdet's C4 detectors) ->
# avgpool -> projector 2048-4096-256 -> predictor 256-4096-256.
# The released C4 recipe also applies box cutout on V2 (p=0.5 per box, area
# 0.1-0.3): `RegionCutout(views=(1, ))` (the C4 data has no V3).
_base_ = ['./soco_resnet50-fpn_8xb128-coslr-100e_in1k.py']

model = dict(
    # the trunk's zero-gamma ResNet-50 (SyncBN) cut after C4
    backbone=dict(
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, )),
    neck=None,
    roi_head=dict(
        _delete_=True,
        type='RegionRoIHead',
        shared_head=dict(
            type='mmdet.ResLayer',
            depth=50,
            stage=3,
            stride=2,
            dilation=1,
            style='pytorch',
            norm_cfg=_base_.norm_cfg,
            norm_eval=False),
        zero_init_residual=True),
    heads=dict(
        region=dict(
            embedding=dict(
                roi_pool=dict(
                    output_size=14,
                    featmap_strides=(16, ),
                    sampling_ratio=0,
                    aligned=True),
                projector=dict(in_channels=2048)),
            scale_aware=False)))

region_sampler = dict(
    type='SoCoRegionSampler',
    pairs=((0, 1), ),
    select_k=4,
    padding_k=4,
    jitter_prob=0.,
    margin=1.0)
# SoCo's V1 and V2 (scale 0.6-1), the box cutout on V2 only
train_pipeline = [
    _base_.train_pipeline[0],
    dict(
        _base_.train_pipeline[1],
        views=[
            _base_.train_pipeline[1].views[0],
            dict(_base_.train_pipeline[1].views[1], scale=(0.6, 1.)),
        ],
        region_sampler=region_sampler),
    _base_.train_pipeline[2],
    dict(_base_.region_cutout, views=(1, )),
    _base_.train_pipeline[3],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
