# The DetCo / DUPR short schedule: 12k iterations at batch 16, steps
# 9k/11k, iteration-based, weight decay 1e-4 (detectron2's default);
# validation and checkpoints every 4k iterations. A config on it samples
# its training set with an InfiniteSampler.
_base_ = './finetune_1x.py'

max_iters = 12000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=4000)
param_scheduler = [
    dict(_base_.param_scheduler[0]),
    dict(
        _base_.param_scheduler[1],
        end=max_iters,
        by_epoch=False,
        milestones=[9000, 11000])
]
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000))
log_processor = dict(by_epoch=False)
