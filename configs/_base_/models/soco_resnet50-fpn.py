# SoCo R50-FPN (Wei et al., 2021): the shared R50-FPN-4conv1fc trunk (see
# r50-fpn-4conv1fc_trunk.py) + BYOL projector/predictor.
_base_ = ['./r50-fpn-4conv1fc_trunk.py']
model = dict(
    type='SoCo',
    # Linear-BN-ReLU-Linear, biases on (also the last), no last BN.
    projector=dict(
        type='NonLinearNeck',
        in_channels=1024,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_last_bias=True,
        with_avg_pool=False,
        norm_cfg=dict(type='SyncBN')),
    predictor=dict(
        type='NonLinearNeck',
        in_channels=256,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_last_bias=True,
        with_avg_pool=False,
        norm_cfg=dict(type='SyncBN')),
    loss=dict(type='CorrespondenceBYOLLoss', eps=1e-6),
    # MMEngine EMA convention: update rate m = 1 - tau; tau 0.99 -> 1 cosine.
    target_ema=dict(type='CosineEMA', momentum=0.01, end_momentum=0.),
    # Released code forwards every view separately (per-view BN stats).
    batch_views=False,
    level_thresholds=(48, 96, 192, 224),
    # Every box pooled at P2-P5; BN statistics of head/projector/predictor
    # per level of a box set, as the released per-level calls (bn_groups
    # None = 'level'; 'set' normalises a set's 16 slots together).
    assigned_level_only=False,
    bn_groups=None,
    released_box_convention=True)
