# The input normalisation every pretraining model shares (ImageNet mean/std
# in RGB, pixel range 0-255): the first link of the model bases' chains
# (byol_resnet50.py; mmdet_resnet50.py and the bases on it).
model = dict(
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))
