# SoCo R50-FPN, 100 epochs on ImageNet-1K (released `SoCo_FPN_100ep`).
# The released 100-epoch script also applies box cutout on V2/V3 (p=0.5,
# area 0.1-0.3): `RegionCutout` after the per-view photometrics.
_base_ = ['./soco_resnet50-fpn_8xb128-coslr-400e_in1k.py']

train_dataloader = dict(
    dataset=dict(pipeline={{_base_.train_pipeline_cutout}}))

max_epochs = 100
param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - _base_.warmup_epochs,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
