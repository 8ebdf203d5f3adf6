# The SoCo / ALFM trunk (r50-fpn-4conv1fc_trunk.py) and the BYOL-style
# projector both methods' heads use: Linear-BN-ReLU-Linear to 256 (hidden
# 4096, SyncBN, biases on, the last one too, no last BN). The method bases add
# its input: SoCo the RoI-head features (1024, no pooling; its predictor is
# the same MLP from 256), ALFM avgpool(C5) (2048, GMSR).
_base_ = ['./r50-fpn-4conv1fc_trunk.py']
byol_projector = dict(
    type='NonLinearNeck',
    hid_channels=4096,
    out_channels=256,
    num_layers=2,
    with_bias=True,
    with_last_bn=False,
    with_last_bias=True,
    norm_cfg=dict(type='SyncBN'))
