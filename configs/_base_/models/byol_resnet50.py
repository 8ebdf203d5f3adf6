# BYOL (mmpretrain's implementation) with a ResNet-50: the image-level
# baseline every region-level method is compared with.
_base_ = ['./selfsup_data_preprocessor.py']
# the projector on avgpool(C5); the predictor is the same MLP from 256
# (a `__` name is local to this file, not part of the config)
__mlp = dict(
    type='NonLinearNeck',
    in_channels=2048,
    hid_channels=4096,
    out_channels=256,
    num_layers=2,
    with_bias=True,
    with_last_bn=False,
    with_avg_pool=True)
model = dict(
    type='BYOL',
    # MMEngine EMA convention: update rate m = 1 - tau, so 0.01 is tau0=0.99.
    base_momentum=0.01,
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='SyncBN'),
        zero_init_residual=False),
    neck=__mlp,
    head=dict(
        type='LatentPredictHead',
        predictor=dict(__mlp, in_channels=256, with_avg_pool=False),
        loss=dict(type='CosineSimilarityLoss')))
