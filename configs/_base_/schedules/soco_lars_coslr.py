# SoCo's optimisation, as released: LARS (eta 0.001) over SGD m 0.9 --
# `SoCoLARS`, the released optimizer (trust ratio on ||g + wd w||, lr applied
# at the update, not folded into the momentum buffer; mmpretrain's `LARS`
# differs in both) -- lr = 1.0 x global batch / 256, wd 1e-5; BN/bias
# (ndim <= 1) parameters get neither weight decay nor LARS scaling; 10-epoch
# linear warm-up from lr/100 then cosine to 1e-6, both per iteration.
# The block is written here only: another length is a file of its own
# (soco_lars_coslr-800e.py) or, in a config that inherits another method
# config, `dict(_base_.param_scheduler[i], ...)` with the length-dependent
# epochs (`end`, `begin`, `T_max`) replaced (mmengine evaluates
# `max_epochs - warmup_epochs` once, in the file that writes it). ALFM
# inherits this file but runs mmpretrain's `LARS` (its configs say why).
max_epochs = 400
warmup_epochs = 10
base_lr = 1.0  # per 256 images

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SoCoLARS', lr=base_lr * 1024 / 256, momentum=0.9,
        weight_decay=1e-5, eta=0.001, eps=1e-8),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))

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

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# Released: DDP(find_unused_parameters=True, broadcast_buffers=False); the
# runner's default DDP wrapper has broadcast_buffers=False already.
find_unused_parameters = True
