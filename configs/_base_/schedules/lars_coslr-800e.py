# BYOL's LARS schedule (lars_coslr-400e.py) over 800 epochs: the same
# 10-epoch warm-up, then cosine over the other 790 (the entries of
# lars_coslr-400e.py with the length-dependent epochs replaced).
_base_ = ['./lars_coslr-400e.py']

max_epochs = 800
param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - _base_.warmup_epochs,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
