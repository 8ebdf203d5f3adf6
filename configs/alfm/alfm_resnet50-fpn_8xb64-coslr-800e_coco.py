# ALFM R50-FPN, 800 epochs on COCO train2017 (labels unused) with
# selective-search proposals, 8 GPUs x 64 images (global 512), the flagship
# recipe of README.md (all [D] except "COCO" and the two branches).
# MMPretrain's LARS (no released ALFM optimizer to reproduce; SoCo's released
# one is `SoCoLARS`, see configs/alfm/README.md) with ndim <= 1 parameters
# excluded from LARS and weight decay, as SoCo,
# base lr 0.2 x batch / 256, wd 1e-6, 10 warm-up epochs + cosine, AMP
# (the log-dets and the distillation run in fp32 inside the losses), SyncBN,
# and the collapse guard of RepresentationHealthHook on both branches.
_base_ = [
    '../_base_/models/alfm_resnet50-fpn.py',
    '../_base_/datasets/alfm_coco.py',
    '../_base_/schedules/soco_lars_coslr-800e.py',
    '../_base_/default_runtime.py',
]

batch_size = 64
num_gpus = 8
base_lr = 0.2  # per 256 images

train_dataloader = dict(batch_size=batch_size)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='LARS',
        lr=base_lr * batch_size * num_gpus / 256,
        momentum=0.9,
        weight_decay=1e-6,
        eta=0.001,
        eps=1e-8))
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
# Collapse guard: warn (naming the branch) when std or the effective rank of
# the GMSR (projector, d=256) or CDLP (bottleneck, d=256) embeddings stays
# below its floor for 3 consecutive checks, after the first 1000 iterations.
custom_hooks = [
    dict(
        type='RepresentationHealthHook',
        interval=50,
        std_floor=dict(gmsr=0.1 / 256**0.5, cdlp=0.1 / 256**0.5),
        rank_floor=2.0,
        patience=3,
        guard_begin=1000)
]
auto_scale_lr = dict(base_batch_size=batch_size * num_gpus)
