# MoCo v2 / CrossCL optimisation, as released: SGD momentum 0.9,
# lr = 0.03 x global batch / 256, weight decay 1e-4 (all parameters), cosine
# to 0 stepped once per epoch (not converted to iterations), no warm-up.
# Another length: `dict(_base_.param_scheduler[0], T_max=max_epochs,
# end=max_epochs)` and `train_cfg` (mmengine evaluates `T_max=max_epochs`
# once, in this file); another batch restates `optim_wrapper.optimizer.lr`.
max_epochs = 200
base_lr = 0.03  # per 256 images
batch_size = 32
num_gpus = 8

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD',
        lr=base_lr * batch_size * num_gpus / 256,
        momentum=0.9,
        weight_decay=1e-4))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0.,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=batch_size * num_gpus)
