# SoCo's LARS schedule (soco_lars_coslr.py) over 800 epochs: the same
# 10-epoch warm-up, then cosine over the other 790. The scheduler entries
# are the family file's, with the epochs that depend on the length replaced
# (mmengine evaluates `max_epochs - warmup_epochs` once, in the file that
# writes it, so a length is a file or a config of its own).
_base_ = ['./soco_lars_coslr.py']

max_epochs = 800
param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - _base_.warmup_epochs,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
