# Ablation 1 (see README.md): VICReg surrogates as the GMSR loss
# (invariance 25, variance hinge 25, covariance 1).
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_coco.py']

model = dict(
    heads=dict(
        gmsr=dict(
            loss=dict(
                _delete_=True,
                type='VICRegLoss',
                sim_weight=25.,
                var_weight=25.,
                cov_weight=1.,
                gather=True))))
