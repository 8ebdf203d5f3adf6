# ALFM on ImageNet-1K at equal *iterations* with the COCO flagship:
# COCO 118,287 / 512 = 231 it/epoch x 800 = 184,800 iterations;
# ImageNet 1,281,167 / 512 = 2,502 it/epoch -> 74 epochs = 185,148 (+0.2 %).
# Warm-ups keep their COCO length in iterations: lr 10 COCO epochs = 2,310
# it ~ 1 ImageNet epoch; teacher temperature 30 COCO epochs = 6,930 it =
# 2.77 ImageNet epochs. Ablation 4 of README.md.
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_in1k.py']

max_epochs = 74
warmup_epochs = 1
model = dict(
    heads=dict(
        cdlp=dict(
            loss=dict(warmup_teacher_temp_epochs=30 * 231 / 2502))))
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - warmup_epochs,
        begin=warmup_epochs,
        end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=3))
