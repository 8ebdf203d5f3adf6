# SoCo's views (as released) and BYOL-style asymmetric photometrics.
# V1 = whole image -> 224 (aspect not kept), V2 = RandomResizedCrop 224,
# V3 = independent RandomResizedCrop 112 (released code; scale 0.5-1).
# Every view flips with p=0.5. 4 proposals per view pair, V1-side jitter.
# `train_pipeline_cutout` adds the released box cutout on V2/V3 (100-epoch
# FPN and C4 scripts only).
_base_ = ['./byol_photometrics.py']  # view_pipeline1 / view_pipeline2
region_sampler = dict(
    type='SoCoRegionSampler',
    pairs=((0, 1), (0, 2)),
    select_k=4,
    padding_k=4,
    jitter_prob=0.5,
    jitter_ratio=0.1,
    margin=1.0)
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiViewCrop',
        views=[
            dict(kind='whole', size=224),
            dict(kind='resized_crop', size=224, scale=(0.5, 1.)),
            dict(kind='resized_crop', size=112, scale=(0.5, 1.)),
        ],
        region_sampler=region_sampler,
        max_tries=5),
    # a list shorter than the views broadcasts its last pipeline
    dict(
        type='ViewPipelines',
        transforms=[{{_base_.view_pipeline1}}, {{_base_.view_pipeline2}}]),
    dict(type='PackMultiViewInputs'),
]
# Box cutout (released --cutout_prob 0.5 --cutout_ratio_min 0.1
# --cutout_ratio_max 0.3): every V2/V3 box, p=0.5, a square of 0.1-0.3 of
# the box area filled with the mean colour (= 0 after normalisation).
region_cutout = dict(
    type='RegionCutout', views=(1, 2), prob=0.5, area_ratio=(0.1, 0.3))
train_pipeline_cutout = train_pipeline[:-1] + [
    region_cutout, dict(type='PackMultiViewInputs')
]
