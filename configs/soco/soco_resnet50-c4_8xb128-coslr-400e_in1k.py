# SoCo R50-C4, 400 epochs on ImageNet-1K (released `SoCo_C4_400ep`); box
# cutout on V2 as in the 100-epoch C4 config (inherited pipeline).
_base_ = ['./soco_resnet50-c4_8xb128-coslr-100e_in1k.py']

max_epochs = 400
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
