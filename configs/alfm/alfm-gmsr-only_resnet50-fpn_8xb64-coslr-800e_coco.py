# Ablation 1 (see README.md): GMSR only -- no CDLP, hence no teacher, no
# regions and no local patches (the FPN and RoI head stay at their init; do
# not export them). Add heads.gmsr.loss=dict(beta=0.) for "alignment only"
# (the collapse check) and sweep beta {0.5, 1, 2, 5} / eps2 {0.01, 0.05,
# 0.2}.
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_coco.py']

model = dict(heads=dict(cdlp=None), target_ema=None)
train_dataloader = dict(
    dataset=dict(pipeline={{_base_.train_pipeline_global_only}}))
custom_hooks = [
    dict(
        type='RepresentationHealthHook',
        interval=50,
        std_floor=dict(gmsr=0.1 / 256**0.5),
        rank_floor=2.0,
        patience=3,
        guard_begin=1000)
]
