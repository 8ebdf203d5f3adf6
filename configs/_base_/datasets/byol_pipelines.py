# BYOL's asymmetric two-view pipeline (Grill et al. 2020): a random resized
# crop and a flip per view, then the photometrics of byol_photometrics.py
# (shared with SoCo and ALFM). Children that change the crop (the demo
# configs) rebuild `view_pipeline1/2` from `crop`, `flip` and
# `photometrics1/2` (mmengine evaluates a base file once, so a new
# `crop_size` alone would not reach the lists below).
# Images are decoded by LoadImageWithCheck (corrupt files named, skipped and
# counted), as in every mmalfm pipeline.
_base_ = ['./byol_photometrics.py']  # view_pipeline1 / view_pipeline2
crop_size = 224

crop = dict(
    type='RandomResizedCrop',
    scale=crop_size,
    interpolation='bicubic',
    backend='pillow')
flip = dict(type='RandomFlip', prob=0.5)
photometrics1 = dict(type='Compose', transforms={{_base_.view_pipeline1}})
photometrics2 = dict(type='Compose', transforms={{_base_.view_pipeline2}})
view_pipeline1 = [crop, flip, photometrics1]
view_pipeline2 = [crop, flip, photometrics2]
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs')
]
