# Optional redundancy reduction (see README.md): Barlow-Twins
# cross-correlation of the two global views' student region features
# (RoI-head output), off-diagonal weight 5e-3 (MMPretrain's
# CrossCorrelationLoss), divided by the feature size.
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_coco.py']

model = dict(
    heads=dict(
        cdlp=dict(
            redundancy_loss=dict(
                _delete_=True, type='CrossCorrelationLoss', lambd=5e-3),
            redundancy_weight=1.0)))
