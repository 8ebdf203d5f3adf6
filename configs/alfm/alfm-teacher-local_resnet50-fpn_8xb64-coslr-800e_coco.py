# Ablation 2 (see README.md): the CDLP teacher labels the context-poor
# local patch and the student predicts from the global views' regions (the
# context asymmetry is reversed; the abstract's claim predicts a drop).
_base_ = ['./alfm_resnet50-fpn_8xb64-coslr-800e_coco.py']

model = dict(heads=dict(cdlp=dict(teacher_view='local')))
