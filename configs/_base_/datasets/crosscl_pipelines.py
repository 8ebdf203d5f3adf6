# CrossCL views (as released): one shared horizontal flip of the
# source (p 0.5) before cropping, two independent RandomResizedCrop(224,
# scale 0.2-1, ratio 3/4-4/3) views, then per view, in this order:
# GaussianBlur sigma U(0.1, 2) p 0.5 -> ColorJitter(0.4, 0.4, 0.4, 0.1)
# p 0.8 -> RandomGrayscale p 0.2 (blur first, unlike MoCo v2). Regions: the
# 6x6 grid of 48-px windows at stride 32 in the query view (view 0), mapped
# to the key view (view 1); id -1 where not fully inside the key view.
# `crop_size` must equal model.heads.region.view_size; the window grid is the sampler's
# (the model reads it from the batch).
_base_ = ['./mocov2_photometrics.py']
crop_size = 224
window = 48
window_stride = 32
# MoCo v2's photometrics with the blur first
view_pipeline = [_base_.view_pipeline[2], *_base_.view_pipeline[:2]]
region_sampler = dict(
    type='CrossCLWindowSampler',
    query=0,
    key=1,
    view_size=crop_size,
    window=window,
    stride=window_stride)
train_pipeline = [
    dict(type='LoadImageWithCheck'),
    dict(
        type='MultiViewCrop',
        views=[
            dict(
                kind='resized_crop',
                size=crop_size,
                scale=(0.2, 1.),
                ratio=(3 / 4, 4 / 3),
                num=2)
        ],
        flip='shared',
        region_sampler=region_sampler,
        max_tries=1),
    dict(type='ViewPipelines', transforms=[view_pipeline]),
    dict(type='PackMultiViewInputs'),
]
