# The 2x schedule: detectron2's 180k iterations, steps 120k/160k =
# MMDetection's 24 epochs, steps 16/22; otherwise ./finetune_1x.py.
_base_ = './finetune_1x.py'

max_epochs = 24
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(_base_.param_scheduler[0]),
    dict(_base_.param_scheduler[1], end=max_epochs, milestones=[16, 22])
]
