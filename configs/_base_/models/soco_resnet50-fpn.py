# SoCo R50-FPN (Wei et al., 2021): the shared R50-FPN-4conv1fc trunk (see
# r50-fpn-4conv1fc_trunk.py) + the SoCo region head: RoI embedding with the
# BYOL projector/predictor, BYOL loss per view pair.
_base_ = ['./r50-fpn-4conv1fc_byol-projector.py']
model = dict(
    type='SoCo',
    heads=dict(
        region=dict(
            type='SoCoRegionHead',
            embedding=dict(
                type='RoIEmbedding',
                roi_pool=_base_.roi_pool,
                # the BYOL projector on the RoI-head features, and the same
                # MLP from 256 as the predictor (Linear-BN-ReLU-Linear,
                # biases on, no last BN)
                projector=dict(
                    _base_.byol_projector, in_channels=1024,
                    with_avg_pool=False),
                predictor=dict(
                    _base_.byol_projector, in_channels=256,
                    with_avg_pool=False)),
            loss=dict(type='CorrespondenceBYOLLoss', eps=1e-6),
            level_thresholds=(48, 96, 192, 224),
            # Every box pooled at P2-P5; BN statistics of head/projector/
            # predictor per level of a box set, as the released per-level
            # calls (bn_groups None = 'level'; 'set' normalises a set's 16
            # slots together).
            assigned_level_only=False,
            bn_groups=None,
            released_box_convention=True)),
    # MMEngine EMA convention: update rate m = 1 - tau; tau 0.99 -> 1 cosine.
    target_ema=dict(type='CosineEMA', momentum=0.01, end_momentum=0.),
    # Released code forwards every view separately (per-view BN stats).
    batch_views=False)
