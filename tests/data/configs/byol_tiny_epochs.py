# byol_tiny as an epoch-based run (2 epochs of 3 iterations) with two
# persistent workers: the per-sample seeding must make a run resumed at the
# epoch boundary equal to an uninterrupted one.
_base_ = ['./byol_tiny.py']

train_dataloader = dict(
    num_workers=2,
    persistent_workers=True,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True))
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=2)
default_hooks = dict(
    checkpoint=dict(by_epoch=True, interval=1, max_keep_ckpts=-1))
log_processor = dict(by_epoch=True)
