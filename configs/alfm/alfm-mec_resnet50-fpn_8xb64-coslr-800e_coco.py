# Ablation 1 (see README.md): the GMSR entropy term as Maximum Entropy
# Coding (Taylor order 4; eps2 = d / 32 by default, see MECLoss).
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_coco.py']

model = dict(
    heads=dict(
        gmsr=dict(
            loss=dict(
                _delete_=True, type='MECLoss', eps2=None, order=4,
                gather=True))))
