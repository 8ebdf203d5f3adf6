# SoCo R50-FPN, 100 epochs on ImageNet-1K (released `SoCo_FPN_100ep`).
# The released 100-epoch script also applies box cutout on V2/V3 (p=0.5,
# area 0.1-0.3): `RegionCutout` after the per-view photometrics.
_base_ = ['./soco_resnet50-fpn_8xb128-coslr-400e_in1k.py']

train_dataloader = dict(
    dataset=dict(pipeline={{_base_.train_pipeline_cutout}}))

max_epochs = 100
warmup_epochs = 10
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
