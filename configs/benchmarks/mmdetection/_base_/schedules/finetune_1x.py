# MMDetection's 1x schedule (12 epochs, steps 8/11, SGD lr 0.02 at batch
# 16, weight decay 1e-4) and runtime, with what every fine-tuning protocol
# here adds: mmalfm's imports, a warm-up of 1000 iterations (detectron2's)
# and mmalfm's guard that stops at the first NaN/Inf loss, weight or BN
# statistic.
_base_ = [
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py'
]
custom_imports = dict(imports=['mmalfm'], allow_failed_imports=False)

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
default_hooks = dict(non_finite=dict(type='mmalfm.NonFiniteCheckHook'))
