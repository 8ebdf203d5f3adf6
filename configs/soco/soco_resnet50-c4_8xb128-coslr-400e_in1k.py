# SoCo R50-C4, 400 epochs on ImageNet-1K (released `SoCo_C4_400ep`); box
# cutout on V2 as in the 100-epoch C4 config (inherited pipeline).
_base_ = ['./soco_resnet50-c4_8xb128-coslr-100e_in1k.py']

max_epochs = 400
param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - _base_.warmup_epochs,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
