# LARS + 10-epoch linear warm-up + cosine decay (BYOL / SoCo style).
# The block is written here only. mmengine evaluates `max_epochs -
# warmup_epochs` once, in this file, so another length is a file of its own
# (lars_coslr-800e.py) or, in a config that inherits another method config,
# `dict(_base_.param_scheduler[i], ...)` with the length-dependent epochs
# (`end`, `begin`, `T_max`) replaced.
max_epochs = 400
warmup_epochs = 10

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=4.8, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            # ndim <= 1 parameters: no weight decay, no LARS adaptation.
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
